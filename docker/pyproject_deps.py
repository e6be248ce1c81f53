"""Print the third-party requirements of the given component pyproject.toml files, one a line.

The Dockerfiles install these (pinned by constraints.txt) in a layer of their own before any
source is copied, so editing code does not re-download the dependencies. The project's own
packages (names starting with "ser-") are left out: they are installed from source afterwards.

Usage: python docker/pyproject_deps.py services/api/pyproject.toml [more pyproject.toml ...]
"""

import sys
import tomllib

requirements: set[str] = set()
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        requirements.update(tomllib.load(f)["project"].get("dependencies", []))
print("\n".join(sorted(r for r in requirements if not r.lower().startswith("ser-"))))
