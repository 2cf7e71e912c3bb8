"""What the Pi installs is what the page needs: `systemd/install.sh` pip-installs the package
(not this checkout), so a file under `web/static/` that pyproject's package-data leaves out is
a 404 on the Pi (and a service worker whose cache.addAll() then fails as a whole)."""

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_file_the_page_serves_is_in_the_installed_package():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["pi_service"]
    package = ROOT / "pi_service"
    served = [p.relative_to(package).as_posix() for p in (package / "web" / "static").rglob("*") if p.is_file()]
    assert served
    # setuptools globs: "*" does not cross a "/", so each folder needs its own pattern.
    left_out = [f for f in served if not any(fnmatch.fnmatch(f, pat) and f.count("/") == pat.count("/")
                                             for pat in patterns)]
    assert left_out == [], f"not in [tool.setuptools.package-data] pi_service: {left_out}"
