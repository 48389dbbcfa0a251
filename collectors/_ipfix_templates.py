"""Templates by (exporter, observation domain or v9 source id, template id), with their life.

Template sets are parsed here (IPFIX sets 2 and 3, NetFlow v9 flowsets 0 and 1). A template
lives until it is withdrawn (IPFIX: a template record with no fields; all of a domain's with
the set id as template id), replaced, or, over UDP, not refreshed for the template timeout
(RFC 7011 8.4). Over TCP a template lives as long as its connection.

Limits keep a hostile exporter from growing memory or loops: a template needs at least one
byte a record (a record of no length would never end a set), at most MAX_FIELDS fields and
records that fit in one message; an exporter has at most MAX_TEMPLATES templates.
Compiled layouts are shared between templates with the same fields (routers resend theirs
every few seconds).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from collectors._ipfix_elements import VARIABLE
from collectors._ipfix_layout import Field, Layout, compile_layout

MAX_FIELDS = 512
MAX_RECORD = 65_535 - 16 - 4  # a record must fit in one IPFIX message with one set header
MAX_TEMPLATES = 4096
MAX_DOMAINS = 4096
_LAYOUT_CACHE = 4096

Domain = tuple[str, int]  # (exporter address:port, observation domain / source id)
Report = Callable[[str, str], None]  # (problem kind, detail)


@dataclass(eq=False)
class Template:
    layout: Layout
    options: bool
    scope_fields: int
    refreshed: float


@dataclass
class TemplateStore:
    """Every exporter's templates; ``timeout`` None means templates never expire (TCP)."""

    timeout: float | None = 1800.0
    withdrawn: int = 0
    expired: int = 0
    domains: dict[Domain, dict[int, Template]] = field(default_factory=dict)
    _layouts: dict[tuple[Field, ...], Layout] = field(default_factory=dict)

    def get(self, domain: Domain, template_id: int, now: float) -> tuple[Template | None, bool]:
        """The live template and whether one just expired."""
        templates = self.domains.get(domain)
        if templates is None:
            return None, False
        template = templates.get(template_id)
        if template is None:
            return None, False
        if self.timeout is not None and now - template.refreshed > self.timeout:
            del templates[template_id]
            self.expired += 1
            return None, True
        return template, False

    def forget(self, exporter: str) -> None:
        """Drop an exporter's templates (its TCP connection closed)."""
        for domain in [d for d in self.domains if d[0] == exporter]:
            del self.domains[domain]

    def _layout(self, fields: tuple[Field, ...]) -> Layout:
        layout = self._layouts.get(fields)
        if layout is None:
            if len(self._layouts) >= _LAYOUT_CACHE:
                self._layouts.clear()
            layout = self._layouts[fields] = compile_layout(fields)
        return layout

    def _put(self, domain: Domain, template_id: int, template: Template, report: Report) -> bool:
        templates = self.domains.get(domain)
        if templates is None:
            if len(self.domains) >= MAX_DOMAINS:
                report("too_many_templates", f"more than {MAX_DOMAINS} observation domains; template ignored")
                return False
            templates = self.domains[domain] = {}
        if template_id not in templates and len(templates) >= MAX_TEMPLATES:
            report("too_many_templates", f"domain {domain[1]} has {MAX_TEMPLATES} templates; {template_id} ignored")
            return False
        templates[template_id] = template
        return True

    def parse(self, domain: Domain, set_id: int, body: bytes, now: float, ipfix: bool, report: Report) -> list[int]:
        """Read one template set; returns the ids of the templates it defined.

        ``set_id`` is 2 / 3 (IPFIX) or 0 / 1 (v9): the second of each pair is an options set.
        """
        options = set_id in (1, 3)
        defined: list[int] = []
        pos, end = 0, len(body)
        minimum = 6 if options else 4
        while end - pos >= minimum:
            template_id, count = struct.unpack_from("!HH", body, pos)
            pos += 4
            scope = 0
            if options and ipfix:
                if count == 0:  # an options template withdrawal has no scope count
                    pos = self._withdraw(domain, set_id, template_id, pos, report)
                    continue
                (scope,) = struct.unpack_from("!H", body, pos)
                pos += 2
                if scope == 0 or scope > count:
                    report("bad_template", f"options template {template_id}: scope count {scope} of {count} fields")
                    return defined
            elif options:  # v9: the scope and option field lengths in bytes follow the id
                scope_len = count
                if pos + 2 > end:
                    report("bad_template", f"v9 options template {template_id} is cut short")
                    return defined
                (option_len,) = struct.unpack_from("!H", body, pos)
                pos += 2
                if scope_len % 4 or option_len % 4:
                    report("bad_template", f"v9 options template {template_id}: lengths {scope_len}, {option_len}")
                    return defined
                scope, count = scope_len // 4, (scope_len + option_len) // 4
            if count == 0:
                if not ipfix:
                    report("bad_template", f"template {template_id} has no fields")
                    return defined
                pos = self._withdraw(domain, set_id, template_id, pos, report)
                continue
            if template_id < 256:
                report("bad_template", f"template id {template_id} is reserved (ids start at 256)")
                return defined
            if count > MAX_FIELDS:
                report("bad_template", f"template {template_id} declares {count} fields (at most {MAX_FIELDS})")
                return defined
            fields: list[Field] = []
            for _ in range(count):
                if pos + 4 > end:
                    report("bad_template", f"template {template_id} runs past its set ({count} fields declared)")
                    return defined
                element, length = struct.unpack_from("!HH", body, pos)
                pos += 4
                pen = 0
                if ipfix and element & 0x8000:
                    if pos + 4 > end:
                        report("bad_template", f"template {template_id} runs past its set in an enterprise field")
                        return defined
                    (pen,) = struct.unpack_from("!I", body, pos)
                    pos += 4
                    element &= 0x7FFF
                if length == VARIABLE and not ipfix:
                    report("bad_template", f"v9 template {template_id} has a field of length 65535")
                    return defined
                fields.append(Field(element, pen, length))
            layout = self._layout(tuple(fields))
            if layout.min_len == 0:
                report("bad_template", f"template {template_id} defines records of no length")
                continue
            if layout.min_len > MAX_RECORD:
                report("bad_template", f"template {template_id} records of {layout.min_len} bytes fit in no message")
                continue
            if layout.misfits:
                report("bad_element_length", f"template {template_id}: {layout.misfits} field(s) of impossible length")
            if self._put(domain, template_id, Template(layout, options, scope, now), report):
                defined.append(template_id)
        return defined

    def _withdraw(self, domain: Domain, set_id: int, template_id: int, pos: int, report: Report) -> int:
        templates = self.domains.get(domain, {})
        if template_id == set_id:  # all templates (or all options templates) of the domain
            options = set_id == 3
            for tid in [t for t, tpl in templates.items() if tpl.options == options]:
                del templates[tid]
                self.withdrawn += 1
        elif templates.pop(template_id, None) is None:
            report("bad_withdrawal", f"withdrawal of template {template_id}, which is not defined")
        else:
            self.withdrawn += 1
        return pos
