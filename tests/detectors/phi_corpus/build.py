"""Rebuild the JSON-lines corpus files from the hand-written markup and philter-lite's
i2b2-style samples: ``python tests/detectors/phi_corpus/build.py [PHILTER_DATA_DIR]``.

``notes*.txt`` and ``phi_free*.txt`` alternate into ``dev.jsonl`` (tuning) and
``test.jsonl`` (held out: report on it, never tune to it); ``test2_*.txt`` become
``test2.jsonl``, a second held-out batch written before the second round of rules;
``test3_*.txt`` become ``test3.jsonl``, a third held-out batch written and committed before
the third round; ``test4_*.txt`` become ``test4.jsonl``, a fifth held-out batch by a fresh
author, written and committed before the fourth round; tuning batches
``dev3_*`` to ``dev7_*`` are appended to ``dev.jsonl``. The i2b2 samples (BSD-3-Clause, see
docs/phi-detection.md) become ``i2b2_sample.jsonl`` when their folder is given.
"""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).parent
KINDS = {
    "N": "person_name",
    "D": "date",
    "L": "address",
    "A": "age_over_89",
    "P": "phone_number",
    "F": "fax_number",
    "M": "medical_record_number",
    "I": "other_id",
    "E": "email_address",
    "U": "url",
    "Z": "zip_code",
}
MARK = re.compile(r"\{([A-Z]):([^{}]+)\}")
I2B2 = {
    "PATIENT": "person_name",
    "DOCTOR": "person_name",
    "USERNAME": "person_name",
    "DATE": "date",
    "HOSPITAL": "address",
    "CITY": "address",
    "STREET": "address",
    "LOCATION-OTHER": "address",
    "ORGANIZATION": "address",
    "ZIP": "zip_code",
    "PHONE": "phone_number",
    "FAX": "fax_number",
    "EMAIL": "email_address",
    "URL": "url",
    "MEDICALRECORD": "medical_record_number",
    "IDNUM": "other_id",
    "DEVICE": "device_id",
    "HEALTHPLAN": "health_plan_id",
    "AGE": "age_over_89",
}


def parse_markup(path: Path) -> list[dict]:
    """Documents of a markup file: text with ``{K:value}`` marks -> text + spans."""
    body = "\n".join(line for line in path.read_text().splitlines() if not line.startswith("#"))
    documents = []
    for chunk in body.split("\n===\n"):
        chunk = chunk.strip("\n")
        if not chunk.strip() or chunk.strip() == "===":
            continue
        text, spans, cursor = [], [], 0
        length = 0
        for match in MARK.finditer(chunk):
            text.append(chunk[cursor : match.start()])
            length += match.start() - cursor
            value = match.group(2)
            spans.append({"start": length, "end": length + len(value), "kind": KINDS[match[1]]})
            text.append(value)
            length += len(value)
            cursor = match.end()
        text.append(chunk[cursor:])
        documents.append({"text": "".join(text), "spans": spans})
    return documents


def parse_i2b2(folder: Path) -> list[dict]:
    """The i2b2 XML samples, tags mapped to Safe Harbor kinds (ages only when over 89)."""
    documents = []
    for path in sorted(folder.glob("*.xml")):
        root = ET.parse(path).getroot()
        text = root.findtext("TEXT") or ""
        spans = []
        for tag in root.find("TAGS") or []:
            kind = I2B2.get(tag.get("TYPE", ""))
            value = tag.get("text", "")
            if kind is None or (
                kind == "age_over_89" and not (value.isdigit() and int(value) > 89)
            ):
                continue
            start, end = int(tag.get("start", 0)), int(tag.get("end", 0))
            assert text[start:end] == value, (path, value)
            spans.append({"start": start, "end": end, "kind": kind})
        documents.append({"text": text, "spans": spans, "source": f"philter-lite {path.name}"})
    return documents


def write(path: Path, documents: list[dict]) -> None:
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in documents))


def main() -> None:
    notes = [
        document
        for name in ("notes.txt", "phi_free.txt", "notes2.txt", "phi_free2.txt")
        for document in parse_markup(HERE / name)
    ]
    tuning = [
        d
        for name in (
            "dev3_notes.txt",
            "dev3_phi_free.txt",
            "dev4_notes.txt",
            "dev4_phi_free.txt",
            "dev5_notes.txt",
            "dev6_notes.txt",
            "dev7_notes.txt",
            "dev7_phi_free.txt",
            "dev7b_notes.txt",
        )
        for d in parse_markup(HERE / name)
    ]
    write(HERE / "dev.jsonl", notes[0::2] + tuning)
    write(HERE / "test.jsonl", notes[1::2])
    write(
        HERE / "test2.jsonl",
        [
            d
            for name in ("test2_notes.txt", "test2_phi_free.txt")
            for d in parse_markup(HERE / name)
        ],
    )
    write(
        HERE / "test3.jsonl",
        [
            d
            for name in (
                "test3_caps.txt",
                "test3_lower.txt",
                "test3_reports.txt",
                "test3_mixed.txt",
                "test3_phi_free.txt",
            )
            for d in parse_markup(HERE / name)
        ],
    )
    write(
        HERE / "test4.jsonl",
        [
            d
            for name in (
                "test4_caps.txt",
                "test4_lower.txt",
                "test4_mixed.txt",
                "test4_more.txt",
                "test4_phi_free.txt",
            )
            for d in parse_markup(HERE / name)
        ],
    )
    if len(sys.argv) > 1:
        write(HERE / "i2b2_sample.jsonl", parse_i2b2(Path(sys.argv[1])))


if __name__ == "__main__":
    main()
