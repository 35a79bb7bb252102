//! The columnar JSON body (`{"model": "m", "features": {"age": [31, null, ...], ...}}`) parsed in one
//! pass straight into columns: numbers through `fast-float2` (correctly rounded, like serde_json's
//! `float_roundtrip`, which is exact but built a `Value` per number and ran at ~100 MB/s), strings
//! without escapes borrowed and copied once.
//!
//! This path only ever accepts what the general one ([`super::json`]) accepts, with the same values:
//! anything it does not recognise — another key, an escape, `true`, a nested array, a column whose
//! values are of a kind the feature does not take, a number out of range, invalid JSON — is "not
//! mine", and the general path decides, with its error messages. The fuzz target `ingest_json` and
//! the tests below hold the two paths to the same answer.

use crate::error::ApiError;
use crate::json::MAX_OBJECT_KEYS;
use crate::monitor::batch::{Batch, BatchBuilder, ColumnInput};
use crate::monitor::reference::ModelSpec;
use driftwatch_stats::drift::FeatureKind;

/// A body this path read: the model it names (if any) and its columns in body order.
pub(crate) struct Columns<'a> {
    pub(crate) model: Option<String>,
    columns: Vec<(&'a str, Column)>,
}

/// One feature's values: all numbers (or null), all strings (or null), or only nulls so far.
enum Column {
    Nulls(usize),
    Numbers(Vec<f64>),
    Text(Vec<Option<String>>),
}

/// Reads `body` if it is exactly the columnar shape; `None` otherwise.
pub(crate) fn parse(body: &[u8]) -> Option<Columns<'_>> {
    let mut p = Parser { b: body, i: 0 };
    let mut model = None;
    let mut columns = None;
    p.ws();
    p.eat(b'{')?;
    p.ws();
    if p.peek()? != b'}' {
        loop {
            let key = p.string()?;
            p.ws();
            p.eat(b':')?;
            p.ws();
            match key {
                "model" if model.is_none() => model = Some(p.string()?.to_owned()),
                "features" if columns.is_none() => columns = Some(p.features()?),
                _ => return None,
            }
            p.ws();
            match p.next()? {
                b',' => p.ws(),
                b'}' => break,
                _ => return None,
            }
        }
    } else {
        p.i += 1;
    }
    p.ws();
    (p.i == body.len()).then_some(Columns { model, columns: columns? })
}

impl Columns<'_> {
    /// The batch for `spec`, or its error, exactly as the general path would give them; `None` when
    /// a column's values are of a kind its feature does not take (the general path names the value).
    pub(crate) fn into_batch(self, spec: &ModelSpec) -> Option<Result<Batch, ApiError>> {
        let kind = |name: &str| spec.feature_index(name).map(|i| spec.features[i].kind);
        let fits = |(name, column): &(&str, Column)| match (kind(name), column) {
            (None, _) | (_, Column::Nulls(_)) => true,
            (Some(FeatureKind::Numeric), c) => matches!(c, Column::Numbers(_)),
            (Some(FeatureKind::Categorical), c) => matches!(c, Column::Text(_)),
        };
        if !self.columns.iter().all(fits) {
            return None;
        }
        let mut builder = BatchBuilder::new(spec);
        for (name, column) in self.columns {
            let input = match column {
                Column::Numbers(v) => ColumnInput::Numbers(v),
                Column::Text(v) => ColumnInput::Text(v),
                Column::Nulls(n) if kind(name) == Some(FeatureKind::Categorical) => ColumnInput::Text(vec![None; n]),
                Column::Nulls(n) => ColumnInput::Numbers(vec![f64::NAN; n]),
            };
            if let Err(e) = builder.column(name, &|| format!("features.{name}"), input) {
                return Some(Err(e));
            }
        }
        Some(builder.finish())
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    /// A string without escapes or control characters, as UTF-8.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let len = self.b[start..].iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        self.i = start + len;
        self.eat(b'"')?;
        std::str::from_utf8(&self.b[start..start + len]).ok()
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        (self.b.get(self.i..self.i + word.len())? == word).then(|| self.i += word.len())
    }

    fn features(&mut self) -> Option<Vec<(&'a str, Column)>> {
        self.eat(b'{')?;
        self.ws();
        let mut columns: Vec<(&'a str, Column)> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(columns);
        }
        loop {
            let name = self.string()?;
            // A repeated key is an error the general path words; more keys than it allows too.
            if columns.len() == MAX_OBJECT_KEYS || !seen.insert(name) {
                return None;
            }
            self.ws();
            self.eat(b':')?;
            self.ws();
            columns.push((name, self.array()?));
            self.ws();
            match self.next()? {
                b',' => self.ws(),
                b'}' => return Some(columns),
                _ => return None,
            }
        }
    }

    fn array(&mut self) -> Option<Column> {
        self.eat(b'[')?;
        self.ws();
        let mut column = Column::Nulls(0);
        if self.peek()? == b']' {
            self.i += 1;
            return Some(column);
        }
        loop {
            match (self.peek()?, &mut column) {
                (b'n', c) => {
                    self.literal(b"null")?;
                    match c {
                        Column::Nulls(n) => *n += 1,
                        Column::Numbers(v) => v.push(f64::NAN),
                        Column::Text(v) => v.push(None),
                    }
                }
                (b'"', Column::Text(v)) => v.push(Some(self.string()?.to_owned())),
                (b'"', Column::Nulls(n)) => {
                    let mut v = vec![None; *n];
                    v.push(Some(self.string()?.to_owned()));
                    column = Column::Text(v);
                }
                (b'-' | b'0'..=b'9', Column::Numbers(v)) => v.push(self.number()?),
                (b'-' | b'0'..=b'9', Column::Nulls(n)) => {
                    let mut v = vec![f64::NAN; *n];
                    v.push(self.number()?);
                    column = Column::Numbers(v);
                }
                _ => return None,
            }
            self.ws();
            match self.next()? {
                b',' => self.ws(),
                b']' => return Some(column),
                _ => return None,
            }
        }
    }

    /// A JSON number (`-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`), correctly rounded;
    /// non-finite results (out of range, which the general path refuses) are not ours.
    fn number(&mut self) -> Option<f64> {
        let start = self.i;
        let digits = |p: &mut Self| {
            let from = p.i;
            while let Some(b'0'..=b'9') = p.peek() {
                p.i += 1;
            }
            p.i - from
        };
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                digits(self);
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            (digits(self) > 0).then_some(())?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            // Exponents of more digits than any double needs are the general path's to judge.
            (1..=4).contains(&digits(self)).then_some(())?;
        }
        let x: f64 = fast_float2::parse(&self.b[start..self.i]).ok()?;
        // The general path reads a number and maps non-finite values to missing; a body it refuses
        // (an exponent past f64) must not be accepted here.
        x.is_finite().then_some(x)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::ingest::{Format, decode, decode_general};

    /// The embedded demo model (numeric and categorical features), loaded once.
    fn spec() -> &'static ModelSpec {
        static SPEC: std::sync::OnceLock<ModelSpec> = std::sync::OnceLock::new();
        SPEC.get_or_init(|| {
            let config = crate::config::Sources::embedded().validate().unwrap();
            crate::monitor::reference::load_model(config.models[0].clone()).unwrap().0
        })
    }

    fn answer(r: Result<crate::ingest::Decoded, ApiError>) -> String {
        match r {
            Ok(d) => format!("{:?}", d.batch.map(|b| (b.rows, b.columns, b.missing))),
            Err(e) => format!("{} {} {e}", e.status(), e.reason()),
        }
    }

    fn agree(spec: &ModelSpec, body: &[u8]) -> (bool, String) {
        let fast = parse(body).and_then(|c| c.into_batch(spec)).is_some();
        let (a, b) = (answer(decode(spec, Format::Json, body)), answer(decode_general(spec, Format::Json, body)));
        assert_eq!(a, b, "body {:?}", String::from_utf8_lossy(body));
        (fast, a)
    }

    #[test]
    fn the_columnar_shape_takes_the_fast_path_with_the_general_parsers_values() {
        let spec = spec();
        for body in [
            r#"{"model":"demo-churn","features":{"age":[31,-0,null,1e2,2.5E-3,0.1,123456789012345678901234567890],"plan":["a",null,"ünï","b","c","d","e"]}}"#,
            " {\n\t\"features\" : { \"plan\" : [ null , null ], \"age\" : [ null , 7 ] } , \"model\" : \"demo-churn\" } \r\n",
            r#"{"features":{"age":[null,null],"plan":[null,null]},"model":"demo-churn"}"#,
            r#"{"model":"demo-churn","features":{"age":[1.7976931348623157e308,4.9e-324,1e-400,0.30000000000000004]}}"#,
            r#"{"model":"demo-churn","features":{"nope":[1]}}"#,
            r#"{"model":"demo-churn","features":{"age":[1,2],"plan":["a"]}}"#,
            r#"{"model":"demo-churn","features":{"age":[]}}"#,
            r#"{"model":"demo-churn","features":{}}"#,
        ] {
            let (fast, _) = agree(spec, body.as_bytes());
            assert!(fast, "{body}");
        }
    }

    #[test]
    fn everything_else_falls_back_to_the_general_parser_and_its_errors() {
        let spec = spec();
        for body in [
            r#"{"model":"demo-churn","features":{"age":["31"]}}"#,
            r#"{"model":"demo-churn","features":{"age":[1,"x"]}}"#,
            r#"{"model":"demo-churn","features":{"plan":[1]}}"#,
            r#"{"model":"demo-churn","features":{"plan":[true]}}"#,
            r#"{"model":"demo-churn","features":{"age":[1e400]}}"#,
            r#"{"model":"demo-churn","features":{"age":[01]}}"#,
            r#"{"model":"demo-churn","features":{"age":[1.]}}"#,
            r#"{"model":"demo-churn","features":{"age":[.5]}}"#,
            r#"{"model":"demo-churn","features":{"age":[+1]}}"#,
            r#"{"model":"demo-churn","features":{"age":[1e]}}"#,
            r#"{"model":"demo-churn","features":{"age":[0e99999999999]}}"#,
            r#"{"model":"demo-churn","features":{"age":[1],"age":[2]}}"#,
            r#"{"model":"demo-churn","model":"demo-churn","features":{"age":[1]}}"#,
            r#"{"model":"demo-ch\u0075rn","features":{"age":[1]}}"#,
            r#"{"model":"demo-churn","features":{"plan":["a\"b"]}}"#,
            r#"{"model":"demo-churn","features":{"age":[[1]]}}"#,
            r#"{"model":"demo-churn","features":{"age":[1]}} x"#,
            r#"{"model":"demo-churn","features":{"age":[1],}}"#,
            r#"{"model":"demo-churn","features":{"age":[1,]}}"#,
            r#"{"model":null,"features":{"age":[1]}}"#,
            r#"{"model":"demo-churn","rows":[{"age":1}]}"#,
            r#"{"model":"demo-churn","features":{"age":[1]},"series":{}}"#,
            r#"{"model":"demo-churn","features":{"age":[NaN]}}"#,
            r#"{"model":"demo-churn","features":{"age":[1]"#,
            "{\"model\":\"demo-churn\",\"features\":{\"plan\":[\"\x01\"]}}",
        ] {
            let (fast, _) = agree(spec, body.as_bytes());
            assert!(!fast, "{body}");
        }
        // Invalid UTF-8 inside a string.
        let (fast, _) = agree(spec, b"{\"model\":\"demo-churn\",\"features\":{\"plan\":[\"\xff\"]}}");
        assert!(!fast);
    }

    /// Bodies assembled from the tokens the grammar is most likely to get wrong.
    fn body() -> impl Strategy<Value = String> {
        let number = prop::sample::select(vec![
            "0",
            "-0",
            "1",
            "-1",
            "01",
            "1.",
            ".5",
            "1.5",
            "-2.25e-3",
            "1E+2",
            "1e",
            "1e400",
            "-1e400",
            "4.9e-324",
            "1e-400",
            "18446744073709551616",
            "-9223372036854775809",
            "0.1000000000000000055511151231257827",
            "+1",
            "1.0e0001",
            "0e12345",
            "--1",
            "2.",
        ]);
        let value = prop_oneof![
            number.prop_map(str::to_owned),
            prop::sample::select(vec!["null", "true", "\"a\"", "\"\\u00e9\"", "\"\"", "[1]", "{}", "nul"])
                .prop_map(str::to_owned),
        ];
        let ws = prop::sample::select(vec!["", " ", "\n\t", "\r\n "]);
        let column = (
            prop::sample::select(vec!["age", "plan", "tenure_months", "zz", "age"]),
            prop::collection::vec((value, ws.clone()), 0..6),
        )
            .prop_map(|(name, values)| {
                let inner: Vec<String> = values.into_iter().map(|(v, w)| format!("{w}{v}{w}")).collect();
                format!("\"{name}\":[{}]", inner.join(","))
            });
        let features = prop::collection::vec(column, 0..4).prop_map(|c| format!("{{{}}}", c.join(",")));
        let member = prop_oneof![
            4 => features.prop_map(|f| format!("\"features\":{f}")),
            3 => prop::sample::select(vec!["\"model\":\"demo-churn\"", "\"model\":\"other\"", "\"model\":null"]).prop_map(str::to_owned),
            1 => prop::sample::select(vec!["\"rows\":[]", "\"x\":1"]).prop_map(str::to_owned),
        ];
        (prop::collection::vec((member, ws.clone()), 0..4), ws, prop::sample::select(vec!["", "", "", " x", ","]))
            .prop_map(|(members, w, tail)| {
                let inner: Vec<String> = members.into_iter().map(|(m, w)| format!("{w}{m}{w}")).collect();
                format!("{w}{{{}}}{w}{tail}", inner.join(","))
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn fast_and_general_paths_give_the_same_answer_on_any_body(body in body(), cut in 0usize..400) {
            let spec = spec();
            agree(spec, body.as_bytes());
            // Any byte: a cut inside a multi-byte character is invalid UTF-8, which both must refuse.
            agree(spec, &body.as_bytes()[..cut.min(body.len())]);
        }
    }
}
