"""Package discovery for the two packages whose folders are named otherwise (`pyproject.toml` holds the rest).

`[tool.setuptools.packages.find]` names a package after its folder, so it would ship `local` instead of
`relaycast_local`: here each folder's subpackages are found and named under the package it is imported as.
"""

from setuptools import find_packages, setup

FOLDERS = {"relaycast": "layers/relaycast", "relaycast_local": "local"}

setup(
    package_dir=FOLDERS,
    packages=[
        name
        for package, folder in FOLDERS.items()
        for name in (package, *(f"{package}.{sub}" for sub in find_packages(folder)))
    ],
)
