"""What pyproject.toml cannot say about the package build:

- the packages come from two places: the core (``site_scons/wasi_toolchain``) and the SCons glue
  (``site_scons/site_tools/wasi``), which is installed as the ``scons_wasi`` package (a project's
  ``site_scons/site_tools/wasi.py``, written by ``scons-wasi init``, imports it);
- the project's ``toolchain.lock`` lives at the top of the checkout, outside both, so building the wheel copies it
  into ``wasi_toolchain/project/`` for ``scons-wasi init``;
- setuptools works under ``.wasi/setuptools/`` rather than ``build/``, which is where this repository's SConstruct
  puts the samples.
"""

from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
WORK = ROOT / ".wasi" / "setuptools"


class BuildPyWithLock(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # `pip install -e`: the package reads the checkout's own toolchain.lock (project/init.py)
        target = Path(self.build_lib, "wasi_toolchain/project/toolchain.lock")
        self.mkpath(str(target.parent))
        self.copy_file(str(ROOT / "toolchain.lock"), str(target))


WORK.mkdir(parents=True, exist_ok=True)  # egg_info refuses an egg_base that does not exist
setup(
    packages=[*find_packages("site_scons", include=["wasi_toolchain", "wasi_toolchain.*"]), "scons_wasi"],
    cmdclass={"build_py": BuildPyWithLock},
    options={"build": {"build_base": str(WORK / "build")}, "egg_info": {"egg_base": str(WORK)}},
)
