"""Vendor SVD errors patched the way svdtools does: a small YAML of fixes applied to the XML
before it is parsed. The subset understood (svdtools' spelling):

    USART2:                     # a peripheral name, or a glob ("USART*")
      _modify:                  # peripheral properties, or registers by name (glob)
        SR:
          resetValue: 0x000000C0
      _delete: [DR_OLD]         # registers by name (glob)
      _add:                     # new registers: name -> properties
        EXTRA: {addressOffset: 0x40, size: 32, access: read-write, resetValue: 0}
      SR:                       # a register: its fields
        _modify: {TXE: {access: read-only}}
        _delete: [LBD]
        _add: {NEW: {bitOffset: 12, bitWidth: 1}}

A peripheral that is derivedFrom another gets its own copy of the registers before it is
patched (so fixing USART2 does not change USART6). Unknown names and keys are errors.
"""

from __future__ import annotations

import copy
import fnmatch
from pathlib import Path
from typing import Any

from ..errors import DescriptionError
from ..files import read_bounded

MAX_YAML = 4 << 20
TEXT_KEYS = {"name", "description", "access", "modifiedWriteValues", "readAction",
             "addressOffset", "size", "resetValue", "resetMask", "bitOffset", "bitWidth",
             "bitRange", "baseAddress", "dim", "dimIncrement", "dimIndex", "displayName",
             "groupName", "alternateRegister", "dataType"}


def load_fixes(fixes: str | Path | dict, where: str = "") -> dict:
    if isinstance(fixes, dict):
        return fixes
    import yaml

    text = read_bounded(fixes, MAX_YAML, "fixes file", DescriptionError, regular=True)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DescriptionError(f"fixes file {fixes}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise DescriptionError(f"fixes file {fixes}: expected a mapping of peripherals")
    return doc


def _text(el: Any, tag: str) -> str | None:
    child = el.find(tag)
    return child.text.strip() if child is not None and child.text else None


def _set(el: Any, props: dict, what: str) -> None:
    from lxml import etree

    if not isinstance(props, dict):
        raise DescriptionError(f"{what}: expected properties (a mapping), got {props!r}")
    for key, value in props.items():
        if key not in TEXT_KEYS:
            raise DescriptionError(f"{what}: unknown property {key!r} (known: "
                                   f"{', '.join(sorted(TEXT_KEYS))})")
        child = el.find(key)
        if child is None:
            child = etree.SubElement(el, key)
        child.text = hex(value) if isinstance(value, int) and not isinstance(value, bool) \
            and key not in ("size", "bitOffset", "bitWidth", "dim") else str(value)


def _named(parent: Any, tag: str, pattern: str, what: str) -> list[Any]:
    found = [e for e in parent.findall(tag) if fnmatch.fnmatchcase(_text(e, "name") or "",
                                                                   pattern)]
    if not found:
        have = ", ".join(sorted(_text(e, "name") or "?" for e in parent.findall(tag)))
        raise DescriptionError(f"{what}: no {tag} matches {pattern!r} (there are: {have})")
    return found


def _materialise(periph: Any, root: Any) -> Any:
    """Give a derivedFrom peripheral its own copies of what it inherits."""
    base_name = periph.get("derivedFrom")
    if base_name:
        base = [p for p in root.iter("peripheral") if _text(p, "name") == base_name]
        if base:
            have = {c.tag for c in periph}
            for child in base[0]:
                if child.tag not in have:
                    periph.append(copy.deepcopy(child))
        del periph.attrib["derivedFrom"]
    regs = periph.find("registers")
    if regs is None:
        from lxml import etree

        regs = etree.SubElement(periph, "registers")
    return regs


def _patch_fields(reg: Any, ops: dict, what: str) -> None:
    from lxml import etree

    fields = reg.find("fields")
    if fields is None:
        fields = etree.SubElement(reg, "fields")
    for key, val in ops.items():
        if key == "_modify":
            for pat, props in val.items():
                for f in _named(fields, "field", pat, what):
                    _set(f, props, f"{what}.{pat}")
        elif key == "_delete":
            for pat in val:
                for f in _named(fields, "field", pat, what):
                    fields.remove(f)
        elif key == "_add":
            for name, props in val.items():
                f = etree.SubElement(fields, "field")
                etree.SubElement(f, "name").text = name
                _set(f, props, f"{what}.{name}")
        else:
            raise DescriptionError(f"{what}: unknown operation {key!r} (_modify, _delete, _add)")


def apply_fixes(tree: Any, fixes: str | Path | dict, where: str = "") -> None:
    """Apply svdtools-style fixes to an lxml tree of an SVD file, in place."""
    from lxml import etree

    doc = load_fixes(fixes, where)
    root = tree.getroot()
    periphs = root.find("peripherals")
    if periphs is None:
        raise DescriptionError(f"{where}: no <peripherals> to patch")
    for ppat, ops in doc.items():
        if ppat.startswith("_"):
            if ppat in ("_svd", "_include"):
                continue
            raise DescriptionError(f"fixes: unknown top-level key {ppat!r}")
        if not isinstance(ops, dict):
            raise DescriptionError(f"fixes {ppat}: expected a mapping of operations")
        for periph in _named(periphs, "peripheral", ppat, f"fixes {where}"):
            pname = _text(periph, "name")
            for key, val in ops.items():
                what = f"fixes {pname}"
                if key == "_modify":
                    for name, props in val.items():
                        if name in TEXT_KEYS:
                            _set(periph, {name: props}, what)
                            continue
                        regs = _materialise(periph, periphs)
                        for reg in _named(regs, "register", name, what):
                            _set(reg, props, f"{what}.{name}")
                elif key == "_delete":
                    regs = _materialise(periph, periphs)
                    for name in val:
                        for reg in _named(regs, "register", name, what):
                            regs.remove(reg)
                elif key == "_add":
                    regs = _materialise(periph, periphs)
                    for name, props in val.items():
                        reg = etree.SubElement(regs, "register")
                        etree.SubElement(reg, "name").text = name
                        _set(reg, props, f"{what}.{name}")
                elif key.startswith("_"):
                    raise DescriptionError(f"{what}: unknown operation {key!r} "
                                           "(_modify, _delete, _add, or a register name)")
                else:
                    regs = _materialise(periph, periphs)
                    for reg in _named(regs, "register", key, what):
                        _patch_fields(reg, val, f"{what}.{key}")
