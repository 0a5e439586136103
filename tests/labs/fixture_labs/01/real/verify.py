"""Offline checks of the fixture's evidence: the environment file says which code ran."""

import os


def verify(folder: str) -> list[str]:
    path = os.path.join(folder, "environment.txt")
    if not os.path.exists(path):
        return ["environment.txt is missing"]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return [] if "LAB_IMPL_KIND=" in text else ["environment.txt does not say LAB_IMPL_KIND"]
