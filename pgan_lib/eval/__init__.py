"""Evaluation: how good are generated product images, measured with the kit's own yardstick.

    features.py    the frozen kit classifier as a feature extractor, and the cached real side
    metrics.py     FID, KID, precision/recall, density/coverage, IS, CAS, memorisation, pixel metrics
    attributes.py  what a prompt asks for and what an image shows, attribute by attribute
    prompts.py     measuring a text-to-image model over attribute combinations
    shopper.py     prompts written with held-out words and typos, and refused prompts
    report.py      ``evaluate_samples`` and its printed report
    judges.py      validation judges a recipe attaches to a model (e.g. the FID of its samples)
    samples.py     the one .npz sample file (write and read)
    degrade.py     known-good and known-bad "generators" (blur, noise, copies, dropped classes)
    abtest.py      a human A/B test with a Wilson confidence interval
"""
from .features import EXTRACTORS, PRIMARY_HEAD, Extracted, FeatureExtractor, Reference, reference, shipped_extractor
from .report import evaluate_generator, evaluate_samples, format_report
from .samples import load_samples, save_samples

__all__ = [
    "EXTRACTORS", "PRIMARY_HEAD", "Extracted", "FeatureExtractor", "Reference", "reference", "shipped_extractor",
    "evaluate_generator", "evaluate_samples", "format_report", "load_samples", "save_samples",
]
