"""One build step beyond pyproject.toml: copy deploy/template.yaml into the built package.

The template's one source is deploy/template.yaml at the top of the checkout (where operators and
cfn-lint look for it). A wheel has no checkout, so the build puts a copy at
logsvc/deploy/template.yaml, where `logsvc.deploy.template` reads it with importlib.resources.
An editable install has no build copy and reads the checkout's file instead.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

TEMPLATE = Path("deploy", "template.yaml")
PACKAGED = Path("logsvc", "deploy", "template.yaml")


class BuildPyWithTemplate(build_py):
    def run(self):
        super().run()
        if not self.editable_mode:
            target = Path(self.build_lib, PACKAGED)
            self.mkpath(str(target.parent))
            self.copy_file(str(TEMPLATE), str(target), preserve_mode=False)

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        return outputs if self.editable_mode else [*outputs, str(Path(self.build_lib, PACKAGED))]


setup(cmdclass={"build_py": BuildPyWithTemplate})
