"""Build hook: the web UI's libraries (hls.js, the player; uPlot, the charts) go into the package, fetched at
build time.

Everything else about the package is in pyproject.toml. ``npm ci`` installs them from the npm registry at the
versions ``src/livesight/web/package-lock.json`` pins, into ``src/livesight/web/node_modules`` (never
committed), before the package's files are collected, so a wheel, ``pip install .`` and ``pip install -e .``
all serve them at ``/ui/vendor/hls.min.js`` and ``/ui/vendor/uplot.esm.js``. Where npm is missing or the
registry cannot be reached the build goes on with a warning: the UI then plays recordings with the browser's
native HLS only, and shows no charts.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

WEB = Path(__file__).parent / "src" / "livesight" / "web"
ASSETS = (
    WEB / "node_modules" / "hls.js" / "dist" / "hls.min.js",
    WEB / "node_modules" / "uplot" / "dist" / "uPlot.esm.js",
    WEB / "node_modules" / "uplot" / "dist" / "uPlot.min.css",
)
WITHOUT = "the web UI will play recordings with native HLS only and show no charts"


def fetch_web_assets() -> None:
    if all(asset.is_file() for asset in ASSETS):
        return
    npm = shutil.which("npm")
    if npm is None:
        print(f"warning: npm not found: {WITHOUT} (no hls.js, no uPlot)")
        return
    command = [npm, "ci", "--prefix", str(WEB), "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"]
    result = subprocess.run(command, check=False)
    missing = [str(asset.relative_to(WEB)) for asset in ASSETS if not asset.is_file()]
    if result.returncode != 0 or missing:
        print(f"warning: `{' '.join(command)}` failed (missing: {', '.join(missing) or 'none'}): {WITHOUT}")


class BuildPyWithWebAssets(build_py):
    def run(self) -> None:
        fetch_web_assets()
        super().run()


setup(cmdclass={"build_py": BuildPyWithWebAssets})
