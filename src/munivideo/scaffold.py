"""``munivideo adapter new``: scaffold an adapter distribution an integrator can grow.

The result is a separate distribution, shaped like the adapters munivideo ships: a pyproject
with the ``munivideo`` entry point, a ``src`` package with ``py.typed``, a hookimpl registering
the factory, a minimal adapter implementing the port, a README and tests (the ERP acceptance
suite in one class for ``erp``; a port-conformance test for ``video`` and ``notifier``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import click
import jinja2

from munivideo.errors import ConfigurationError

TEMPLATES = Path(__file__).parent / "scaffold_templates"
KINDS = ("erp", "video", "notifier")
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")

_KIND_INFO: dict[str, tuple[str, str, str, str]] = {
    # kind: (class suffix, factory type, register hook, extra dependencies)
    "erp": ("ErpAdapter", "ErpAdapterFactory", "register_erp_adapters", ', "requests>=2.31"'),
    "video": ("VideoProvider", "VideoProviderFactory", "register_video_providers", ""),
    "notifier": ("Notifier", "NotifierFactory", "register_notifiers", ', "requests>=2.31"'),
}


@dataclass(frozen=True)
class Names:
    """The four names a new adapter gets from its short name (see :func:`names_for`)."""

    name: str  #: what tenant configurations name: ``[erp] adapter = "acme"``
    dist: str  #: the distribution: ``munivideo-acme``
    pkg: str  #: the import package: ``munivideo_acme``
    cls: str  #: the adapter class: ``AcmeErpAdapter``


def names_for(name: str, kind: str) -> Names:
    """The names of a new adapter's distribution, package and class, from its short name.

    ``names_for("acme-meet", "video")`` gives ``munivideo-acme-meet``, ``munivideo_acme_meet``
    and ``AcmeMeetVideoProvider``; the kind's suffix is not repeated (``acme-erp-adapter`` ->
    ``AcmeErpAdapter``) and a leading ``munivideo-`` is dropped.

    :param kind: ``erp``, ``video`` or ``notifier``.
    :raises munivideo.errors.ConfigurationError: an unknown ``kind`` (field ``kind``), or a
        name that is not lowercase letters, digits and single dashes, at most 40 characters
        (field ``name``).
    """
    if kind not in KINDS:
        raise ConfigurationError(f"kind must be one of {', '.join(KINDS)}", field="kind")
    name = name.removeprefix("munivideo-")
    if not _NAME.match(name) or len(name) > 40:
        raise ConfigurationError(
            f"adapter name {name!r}: use lowercase letters, digits and single dashes",
            field="name",
        )
    camel = "".join(part.capitalize() for part in name.split("-"))
    suffix = _KIND_INFO[kind][0]
    return Names(
        name=name,
        dist=f"munivideo-{name}",
        pkg="munivideo_" + name.replace("-", "_"),
        cls=camel if camel.endswith(suffix) else camel + suffix,
    )


def _environment() -> jinja2.Environment:
    # Generated files are Python and TOML, full of braces: square delimiters keep them readable.
    # Nothing here is HTML, so autoescaping does not apply.
    return jinja2.Environment(  # noqa: S701
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        variable_start_string="[=",
        variable_end_string="=]",
        block_start_string="[%",
        block_end_string="%]",
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def plan(names: Names, kind: str) -> dict[str, str]:
    """Relative output path -> template name, for one adapter."""
    src = f"src/{names.pkg}"
    files = {
        "pyproject.toml": "common/pyproject.toml.tmpl",
        "README.md": "common/README.md.tmpl",
        f"{src}/__init__.py": "common/__init__.py.tmpl",
        f"{src}/adapter.py": f"{kind}/adapter.py.tmpl",
    }
    if kind == "erp":
        files[f"{src}/mapping.toml"] = "erp/mapping.toml.tmpl"
        files["tests/test_acceptance.py"] = "erp/test_acceptance.py.tmpl"
    else:
        files["tests/test_conformance.py"] = f"{kind}/test_conformance.py.tmpl"
    return files


def scaffold(name: str, kind: str, directory: Path, *, force: bool = False) -> Path:
    """Write the adapter distribution into ``directory/<dist>``; returns that folder."""
    names = names_for(name, kind)
    target = directory / names.dist
    if target.exists() and any(target.iterdir()) and not force:
        raise ConfigurationError(f"{target} already exists and is not empty", field="dir")
    _, factory_type, hook, extra_deps = _KIND_INFO[kind]
    context = {
        "name": names.name,
        "dist": names.dist,
        "pkg": names.pkg,
        "cls": names.cls,
        "kind": kind,
        "factory_type": factory_type,
        "hook": hook,
        "extra_deps": extra_deps,
    }
    env = _environment()
    for relative, template in plan(names, kind).items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(env.get_template(template).render(context), encoding="utf-8")
    (target / "src" / names.pkg / "py.typed").write_text("", encoding="utf-8")
    (target / "tests" / "__init__.py").write_text("", encoding="utf-8")
    return target


@click.group()
def adapter() -> None:
    """Adapters: scaffold a new ERP adapter, video provider or notifier."""


@adapter.command("new")
@click.argument("name")
@click.option("--kind", type=click.Choice(KINDS), required=True, help="What the adapter serves.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("adapters"),
    show_default=True,
    help="Folder to create the distribution in.",
)
@click.option("--force", is_flag=True, help="Write into an existing, non-empty folder.")
def new(name: str, kind: str, directory: Path, force: bool) -> None:
    """Scaffold adapter NAME (e.g. acme) as distribution munivideo-NAME."""
    try:
        target = scaffold(name, kind, directory, force=force)
    except ConfigurationError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        raise SystemExit(2) from None
    names = names_for(name, kind)
    click.echo(f"created {target}")
    click.echo(f"next: pip install -e {target} && pytest {target / 'tests'}")
    click.echo(f"registered as '{names.name}' (entry point group munivideo, package {names.pkg})")
