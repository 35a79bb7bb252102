"""Writes the fuzz targets' seed corpora (corpus/<target>/): valid bodies for the embedded demo model
in every format, plus near-misses, so libFuzzer starts from inputs that reach deep into the decoders.
Requires pyarrow for the Arrow seeds: pip install pyarrow && python3 tests/fuzz/make_seeds.py"""

import io
import json
import pathlib
import struct

import pyarrow as pa
import pyarrow.ipc as ipc

HERE = pathlib.Path(__file__).parent


def write(target, name, data):
    d = HERE / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


cols = {
    "age": [31, 45, None, 29],
    "tenure_months": [1, 12, 30, 7],
    "monthly_charges": [70.5, 20.25, 99.99, None],
    "support_calls": [0, 2, 1, 5],
    "plan": ["basic", "premium", None, "standard"],
    "region": ["south", "north", "east", "west"],
}
rows = [{k: v[i] for k, v in cols.items()} for i in range(4)]

write("ingest_json", "columnar.json", json.dumps({"model": "demo-churn", "features": cols}))
write("ingest_json", "rows.json", json.dumps({"model": "demo-churn", "rows": rows}))
write("ingest_json", "mismatch.json", json.dumps({"model": "demo-churn", "features": {"age": [1, 2], "plan": ["a"]}}))
write("ingest_json", "duplicate.json", '{"model":"demo-churn","features":{"age":[1],"age":[2]}}')
write("ingest_json", "nested.json", '{"model":"demo-churn","features":{"age":[[[[1]]]]}}')

write(
    "ingest_json",
    "series.json",
    json.dumps(
        {
            "model": "demo-churn",
            "features": {"age": [31]},
            "series": {"latency_p95": {"timestamps": [1732500000, 1732500060, 1732500200], "values": [0.12, None, 0.15]}},
        },
        separators=(",", ":"),
    ),
)

write("ingest_ndjson", "rows.ndjson", "\n".join(json.dumps(r) for r in rows) + "\n")
write("ingest_ndjson", "crlf.ndjson", "\r\n".join(json.dumps(r) for r in rows) + "\r\n\r\n")
write("ingest_ndjson", "bad-line.ndjson", json.dumps(rows[0]) + '\n{"age":\n')

table = pa.table(
    {
        "age": pa.array(cols["age"], pa.int64()),
        "tenure_months": pa.array(cols["tenure_months"], pa.int32()),
        "monthly_charges": pa.array(cols["monthly_charges"], pa.float64()),
        "support_calls": pa.array(cols["support_calls"], pa.uint8()),
        "plan": pa.array(cols["plan"], pa.string()),
        "region": pa.array(cols["region"], pa.large_string()),
    }
)
buf = io.BytesIO()
with ipc.new_stream(buf, table.schema) as w:
    w.write_table(table, max_chunksize=2)
stream = buf.getvalue()
write("ingest_arrow", "valid.arrows", stream)
write("ingest_arrow", "truncated.arrows", stream[: len(stream) // 2])
buf = io.BytesIO()
with ipc.new_stream(buf, pa.schema([("age", pa.float32())])) as w:
    pass
write("ingest_arrow", "schema-only.arrows", buf.getvalue())

alert = {
    "status": "firing",
    "labels": {"alertname": "DataDriftDetected", "model_name": "demo-churn", "severity": "warning"},
    "annotations": {"summary": "drift"},
    "startsAt": "2026-12-01T10:00:00Z",
    "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://prometheus:9090/graph",
    "fingerprint": "c0ffee0123456789",
}
payload = {
    "version": "4",
    "groupKey": '{}:{alertname="DataDriftDetected"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "driftwatch",
    "groupLabels": {"alertname": "DataDriftDetected"},
    "commonLabels": alert["labels"],
    "commonAnnotations": alert["annotations"],
    "externalURL": "http://alertmanager:9093",
    "alerts": [alert, dict(alert, status="resolved", fingerprint="deadbeef00000000")],
}
write("alertmanager", "firing.json", json.dumps(payload))
write("alertmanager", "version3.json", json.dumps(dict(payload, version="3")))
write("alertmanager", "no-alertname.json", json.dumps(dict(payload, alerts=[dict(alert, labels={})])))


# series_grid: little-endian (timestamp, value) f64 pairs. A regular minute series, then spacings and
# magnitudes at the edges of what the grid accepts (sub-millisecond steps, a jump to the largest
# timestamp, values of every class).
def pairs(ps):
    return b"".join(struct.pack("<dd", t, v) for t, v in ps)


minute = [(1_732_500_000 + 60 * i, 0.1 + (i % 7) / 100) for i in range(64)]
write("series_grid", "minute.bin", pairs(minute))
write("series_grid", "tiny-steps.bin", pairs([(1e-300 * i, 1.0) for i in range(16)] + [(1e11, 2.0)]))
write("series_grid", "huge-gap.bin", pairs(minute[:20] + [(1e11, 1.0), (1e11 + 1.0, float("nan"))]))
write("series_grid", "edges.bin", pairs([(0.0, 1e308), (5e-324, -1e308), (1.0, float("inf")), (2.0, float("nan"))]))


# model_server: the first byte picks the route (0 /ingest/oip, 1 a structured CloudEvent, 2 a binary
# request event, 3 a binary response event), the rest is the body, shaped as KServe documents them:
# v2 (Open Inference Protocol) requests and responses with named tensors of every kind of datatype,
# [N] and [N, d] shapes, flat and nested data, BYTES; v1 instances and predictions; the logger's
# structured events with data and data_base64.
def model_server(name, mode, body):
    write("model_server", name, bytes([mode]) + (body if isinstance(body, bytes) else json.dumps(body).encode()))


v2_request = {
    "id": "42",
    "parameters": {"content_type": "pd"},
    "inputs": [
        {"name": "age", "shape": [2], "datatype": "INT32", "data": [31, 45]},
        {"name": "tenure_months", "shape": [2, 1], "datatype": "INT64", "data": [[1], [12]]},
        {"name": "monthly_charges", "shape": [2], "datatype": "FP32", "data": [70.5, 20.25]},
        {"name": "support_calls", "shape": [2], "datatype": "UINT8", "data": [0, 2]},
        {"name": "plan", "shape": [2], "datatype": "BYTES", "data": ["basic", "premium"]},
        {"name": "region", "shape": [2], "datatype": "BYTES", "data": ["south", "north"],
         "parameters": {"content_type": "str"}},
    ],
}
v2_response = {
    "model_name": "demo-churn",
    "id": "42",
    "outputs": [
        {"name": "predict", "shape": [2], "datatype": "INT64", "data": [1, 0]},
        {"name": "predict_proba", "shape": [2, 2], "datatype": "FP64", "data": [0.2, 0.8, 0.9, 0.1]},
    ],
}
model_server("v2-request.json", 0, v2_request)
model_server("v2-response.json", 0, v2_response)
model_server("v2-both.json", 0, {"request": v2_request, "response": v2_response})
model_server("v2-matrix.json", 0, {"inputs": [
    {"name": "input-0", "shape": [2, 4], "datatype": "FP64", "data": [31, 1, 70.5, 0, 45, 12, 20.25, 2]}]})
model_server("v2-bad-shape.json", 0, {"inputs": [{"name": "age", "shape": [3], "datatype": "FP16", "data": [1, 2]}]})
model_server("v1-instances.json", 0, {"instances": [[31, 1, 70.5, 0], [45, 12, 20.25, 2]]})
model_server("v1-predictions.json", 3, {"predictions": [1, 0]})
model_server("binary-request.json", 2, v2_request)
model_server("binary-response.json", 3, v2_response)
structured = {"specversion": "1.0", "id": "42", "source": "http://churn-predictor", "inferenceservicename": "demo-churn"}
model_server("structured-request.json", 1,
             dict(structured, type="org.kubeflow.serving.inference.request", data=v2_request))
model_server("structured-base64.json", 1, dict(
    structured, type="org.kubeflow.serving.inference.response",
    data_base64=__import__("base64").b64encode(json.dumps(v2_response).encode()).decode()))
model_server("structured-unknown-type.json", 1, dict(structured, type="io.seldon.serving.inference.request", data={}))
