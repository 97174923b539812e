"""docs/troubleshooting.md: at least 80 rows, each citing a test that exists; none says an
input is silently accepted."""
import re
from pathlib import Path

REPO = Path(__file__).parents[1]
CITED = re.compile(r'`(test_[\w/]+\.py)::(\w+)`')


def test_every_row_cites_an_existing_test():
    rows = [line for line in (REPO / 'docs' / 'troubleshooting.md').read_text().splitlines()
            if line.startswith('| ') and not line.startswith(('| input', '| :--'))]
    assert len(rows) >= 80
    for row in rows:
        cited = CITED.findall(row.rsplit('|', 2)[-2]) or CITED.findall(row)
        assert cited or row.rstrip().endswith('| same test |'), row
        assert 'silent' not in row.lower(), row  # a fault is a clear error, or handled
        for path, name in cited:
            source = (REPO / 'tests' / path).read_text()
            assert re.search(rf'^def {name}\(', source, re.M), f'{path}::{name} (in: {row[:60]})'
