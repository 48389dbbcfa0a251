"""Our TAXII server's speed: taxii2-client paging through every published object.

    python bench/taxii_server_bench.py [--objects N ...] [--page N ...]

For each size (default 2,500 and 10,000 indicators, items of 50, published in five share
runs through the real queue and outbox), ``exchange.TaxiiServer`` serves the queue on a free
loopback port and taxii2-client's ``as_pages`` reads the whole collection at each page size
(default 100 and 500). Printed: objects read (all of them, checked), seconds, objects a second,
milliseconds a page. Writes only to a temporary directory.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, nargs="+", default=[2_500, 10_000])
    parser.add_argument("--page", type=int, nargs="+", default=[100, 500])
    args = parser.parse_args()

    from taxii2client.v21 import Collection, as_pages

    from exchange import MemoryAudit, Queue, TaxiiServer, create_taxii_app
    from tests.exchange.conftest import Clock
    from tests.exchange.served import OUTBOUND, PASSWORDS, READER, publish, server_config

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("taxii2client").setLevel(logging.ERROR)  # it warns when a limit is lowered
    for count in args.objects:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "exchange.sqlite"
            with Queue(path, MemoryAudit(), clock=Clock()) as queue:
                publish(queue, count, per_item=50, batches=5)
            config = server_config(max_page_size=max(args.page))
            with TaxiiServer(create_taxii_app(config, path)) as server:
                collection = Collection(
                    f"{server.url}/api1/collections/{OUTBOUND}/", user=READER, password=PASSWORDS[READER]
                )
                for size in args.page:
                    start = time.perf_counter()
                    pages = list(as_pages(collection.get_objects, per_request=size))
                    seconds = time.perf_counter() - start
                    read = sum(len(p.get("objects", [])) for p in pages)
                    assert read == count + 2, (read, count)  # and our identity and the TLP marking
                    print(
                        f"{count:>7,} published, pages of {size:>4}: {read:,} objects in {len(pages)} pages, "
                        f"{seconds:.2f} s, {read / seconds:,.0f} objects/s, {1000 * seconds / len(pages):.1f} ms a page"
                    )


if __name__ == "__main__":
    main()
