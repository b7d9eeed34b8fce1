"""Content credentials (C2PA): a signed manifest inside the PNG, offline, with a local test key.

Plain metadata (``pgan_lib.provenance``) can be edited by anyone. A C2PA manifest
binds a claim ("this image was created by a trained model, with pgan-kit") to a
hash of the image's bytes and signs both:

    claim     = {actions: [c2pa.created, digitalSourceType = trainedAlgorithmicMedia], hash of the pixels' bytes}
    signature = Sign_key(claim)            (ECDSA P-256, "es256")

A reader recomputes the hash and checks the signature: change one pixel and the
manifest no longer validates (integrity). *Who* signed is a different question:
the kit signs with a key it made itself on this machine, certified by a
certificate authority it also made itself, so every reader reports the signer
as untrusted. A self-signed key proves that the file is unchanged since it was
signed, **not** who signed it; identity needs a certificate from an authority on
a trust list. Everything here is offline: no timestamp authority, no trust list
download.

Needs the optional ``c2pa-python`` package (``pip install c2pa-python``);
``available()`` says whether it is installed.
"""
from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any

from .provenance import DIGITAL_SOURCE_TYPE, Provenance

IDENTITY_NOTE = ("signed with a locally generated test key: the signature proves the file is unchanged since "
                 "signing (integrity), not who signed it (identity); the signer is not on any trust list")


def available() -> bool:
    """True if the ``c2pa`` package (c2pa-python) can be imported."""
    try:
        import c2pa  # noqa: F401  (optional dependency: only probed)
    except ImportError:
        return False
    return True


def _require():
    try:
        import c2pa  # optional dependency, imported only when signing
    except ImportError:
        raise RuntimeError("content credentials need the c2pa-python package: `pip install c2pa-python`") from None
    return c2pa


def key_dir() -> Path:
    """Where the test signer lives: ``$PGAN_C2PA_KEY_DIR`` or ``~/.cache/pgan-kit/c2pa-test-signer``."""
    env = os.environ.get("PGAN_C2PA_KEY_DIR")
    return Path(env) if env else Path.home() / ".cache" / "pgan-kit" / "c2pa-test-signer"


def ensure_test_signer(folder: str | Path | None = None) -> tuple[Path, Path]:
    """A local test CA and a signing certificate issued by it (ECDSA P-256), made once and kept.

    Returns (certificate chain PEM, private key PEM). The key file is readable by its owner only.
    """
    # cryptography comes with the optional c2pa-python install; only needed to make a key
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization  # (same optional dependency)
    from cryptography.hazmat.primitives.asymmetric import ec  # (same)
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # (same)

    folder = Path(folder) if folder is not None else key_dir()
    chain_path, key_path = folder / "chain.pem", folder / "signer.key"
    if chain_path.is_file() and key_path.is_file():
        return chain_path, key_path
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pgan-kit local test (untrusted)")])

    def usage(sign: bool, cert_sign: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign,
                             encipher_only=False, decipher_only=False)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("pgan-kit test CA")).issuer_name(name("pgan-kit test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(usage(False, True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name("pgan-kit test signer")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=730))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(True, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    chain_path.write_bytes(cert.public_bytes(pem) + ca.public_bytes(pem))
    key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key_path.chmod(0o600)
    return chain_path, key_path


def manifest_for(prov: Provenance, title: str) -> dict[str, Any]:
    """The C2PA manifest definition: a 'created' action by a trained model, plus the kit's fields."""
    return {
        "claim_generator_info": [{"name": prov.software, "version": prov.kit_version}],
        "title": title,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [{
                "action": "c2pa.created", "digitalSourceType": DIGITAL_SOURCE_TYPE,
                "softwareAgent": {"name": prov.software, "version": prov.kit_version},
                "parameters": {"model": prov.model, "seed": prov.seed, "prompt": prov.prompt,
                               "class": prov.class_name, "checkpoint_sha256": prov.checkpoint_sha256},
            }]}},
        ],
    }


def sign_png(path: str | Path, prov: Provenance, out: str | Path | None = None,
             folder: str | Path | None = None) -> Path:
    """Add a C2PA manifest, signed with the local test key, to a PNG (in place unless ``out`` is given)."""
    c2pa = _require()
    path = Path(path)
    out = Path(out) if out is not None else path
    chain, key = ensure_test_signer(folder)
    info = c2pa.C2paSignerInfo(b"es256", chain.read_bytes(), key.read_bytes(), None)   # None: no timestamp server
    signer = c2pa.Signer.from_info(info)
    builder = c2pa.Builder(manifest_for(prov, out.name))
    tmp = out.with_name(out.name + ".signing")
    try:
        with open(path, "rb") as src, open(tmp, "w+b") as dst:
            builder.sign(signer, "image/png", src, dst)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def read_credentials(path: str | Path) -> dict[str, Any] | None:
    """The C2PA manifest of a file and its validation, or None if it has none (or c2pa is not installed).

    Returns {"state": "Valid" | "Invalid" | ..., "integrity": bool (hashes and signature check out),
    "trusted": bool, "signer": common name, "issuer": ..., "failures": [codes], "actions": [...],
    "note": IDENTITY_NOTE}.
    """
    if not available():
        return None
    import c2pa  # optional dependency (available() checked above)

    try:
        reader = c2pa.Reader(str(path))
    except c2pa.C2paError as err:
        if "ManifestNotFound" in type(err).__name__ or "no JUMBF" in str(err) or "not found" in str(err).lower():
            return None
        return {"state": "Unreadable", "integrity": False, "trusted": False, "failures": [str(err)],
                "note": IDENTITY_NOTE}
    with reader:
        manifest = reader.get_active_manifest() or {}
        state = reader.get_validation_state()
        results = reader.get_validation_results() or {}
    active = results.get("activeManifest", {})
    failures = [f.get("code", "") for f in active.get("failure", [])]
    integrity = not [c for c in failures if c != "signingCredential.untrusted"]
    actions = []
    for a in manifest.get("assertions", []):
        if a.get("label", "").startswith("c2pa.actions"):
            actions += a.get("data", {}).get("actions", [])
    sig = manifest.get("signature_info", {})
    return {"state": state, "integrity": integrity, "trusted": "signingCredential.untrusted" not in failures,
            "signer": sig.get("common_name"), "issuer": sig.get("issuer"), "failures": failures,
            "actions": actions, "note": IDENTITY_NOTE}


def format_credentials(cred: dict[str, Any] | None) -> str:
    """Readable lines for ``pgan inspect``."""
    if cred is None:
        return "content credentials (C2PA): none" + ("" if available() else " (c2pa-python is not installed)")
    integrity = "OK (hashes and signature match)" if cred["integrity"] else "BROKEN: " + ", ".join(cred["failures"])
    lines = [f"content credentials (C2PA): {cred['state']}",
             f"  integrity: {integrity}",
             f"  signer: {cred.get('signer')} ({cred.get('issuer')}), trusted: {'yes' if cred['trusted'] else 'no'}"]
    for a in cred.get("actions", []):
        lines.append(f"  action: {a.get('action')} ({a.get('digitalSourceType', '')})")
    lines.append(f"  note: {cred['note']}")
    return "\n".join(lines)


def credentials_json(cred: dict[str, Any] | None) -> str:
    return json.dumps(cred, indent=2)
