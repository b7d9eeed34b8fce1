"""Exercise checks for the notebooks: each compares a student's piece with the library on fixed inputs
and prints PASS or FAIL with a hint (never the answer)."""
