"""Build hook: the web UI's player library (hls.js) goes into the package, fetched at build time.

Everything else about the package is in pyproject.toml. ``npm ci`` installs hls.js from the npm registry at
the version ``src/livesight/web/package-lock.json`` pins, into ``src/livesight/web/node_modules`` (never
committed), before the package's files are collected, so a wheel, ``pip install .`` and ``pip install -e .``
all serve it at ``/ui/vendor/hls.min.js``. Where npm is missing or the registry cannot be reached the build
goes on with a warning: the UI then plays recordings with the browser's native HLS only.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

WEB = Path(__file__).parent / "src" / "livesight" / "web"
ASSET = WEB / "node_modules" / "hls.js" / "dist" / "hls.min.js"


def fetch_web_assets() -> None:
    if ASSET.is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        print("warning: npm not found: the web UI will play recordings with native HLS only (no hls.js)")
        return
    command = [npm, "ci", "--prefix", str(WEB), "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"]
    result = subprocess.run(command, check=False)
    if result.returncode != 0 or not ASSET.is_file():
        print(f"warning: `{' '.join(command)}` failed: the web UI will play recordings with native HLS only")


class BuildPyWithWebAssets(build_py):
    def run(self) -> None:
        fetch_web_assets()
        super().run()


setup(cmdclass={"build_py": BuildPyWithWebAssets})
