"""The CloudFormation template: `deploy/template.yaml` in a checkout, package data in an install.

The file in the repository's `deploy/` folder is the template's one source. A wheel carries a copy
as `logsvc/deploy/template.yaml` (setup.py's build step copies it); an editable install has no
copy and reads the checkout's file.
"""

from __future__ import annotations

from pathlib import Path

TEMPLATE_NAME = "template.yaml"
# logsvc/deploy/template.py -> the checkout's root is three levels up.
CHECKOUT_TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / TEMPLATE_NAME


def template_text() -> str:
    """The template's YAML: the packaged copy, else the checkout's file."""
    from importlib.resources import files

    packaged = files("logsvc.deploy").joinpath(TEMPLATE_NAME)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    try:
        return CHECKOUT_TEMPLATE.read_text(encoding="utf-8")
    except FileNotFoundError:
        from logsvc.errors import LogsvcError

        raise LogsvcError("the CloudFormation template is missing from this installation",
                          hint="reinstall logsvc from a wheel, or run it from a checkout") from None
