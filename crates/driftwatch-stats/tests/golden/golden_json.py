"""The JSON layout the golden scripts share: one line per list of scalars, so the files stay small
and a changed value shows as a one-line diff. Imported by make_performance.py, make_cbpe.py and
make_multivariate.py (Python puts a script's own folder on sys.path)."""
import json


def dump(obj, f, level=0):
    """JSON with one line per list of scalars (keeps the file small and diffable)."""
    pad = " " * level
    if isinstance(obj, dict):
        f.write("{\n")
        items = list(obj.items())
        for i, (k, v) in enumerate(items):
            f.write(f"{pad} {json.dumps(k)}: ")
            dump(v, f, level + 1)
            f.write(",\n" if i + 1 < len(items) else "\n")
        f.write(pad + "}")
    elif isinstance(obj, list) and obj and all(isinstance(v, (list, dict)) for v in obj) \
            and not all(isinstance(v, list) and all(not isinstance(e, (list, dict)) for e in v) for v in obj):
        f.write("[\n")
        for i, v in enumerate(obj):
            f.write(pad + " ")
            dump(v, f, level + 1)
            f.write(",\n" if i + 1 < len(obj) else "\n")
        f.write(pad + "]")
    else:
        f.write(json.dumps(obj, allow_nan=False, separators=(",", ":")))
