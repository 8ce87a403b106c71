//! What commands print, and the formatting helpers the commands share: an [`Output`] (table
//! lines and the JSON form), the rows of a table, times and floats as the Go client prints
//! them, and the package table (`package list`, `package create bulk`).

use serde::Serialize;
use update_api::api::Package;

/// What a command prints: table lines (cells joined by `\t`) or, with `--json`, the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// The table, header first.
    pub lines: Vec<String>,
    /// The JSON form.
    pub json: serde_json::Value,
}

impl Output {
    pub(crate) fn new(lines: Vec<String>, json: &impl Serialize) -> Self {
        Self {
            lines,
            json: serde_json::to_value(json).unwrap_or(serde_json::Value::Null),
        }
    }

    /// Lines (cells joined by `\t`) and the JSON form.
    #[must_use]
    pub fn lines(lines: Vec<String>, json: &impl Serialize) -> Self {
        Self::new(lines, json)
    }

    /// A table: the header, then a row per item.
    #[must_use]
    pub fn table<T>(
        header: &str,
        items: &[T],
        row: impl Fn(&T) -> String,
        json: &impl Serialize,
    ) -> Self {
        let lines = std::iter::once(header.to_owned())
            .chain(items.iter().map(row))
            .collect();
        Self::new(lines, json)
    }

    /// The text to print: the tabwriter table, or pretty JSON and a newline.
    #[must_use]
    pub fn render(&self, json: bool) -> String {
        if json {
            let mut text = serde_json::to_string_pretty(&self.json).unwrap_or_default();
            text.push('\n');
            text
        } else {
            crate::tabwriter::format(&self.lines)
        }
    }
}

/// The header of [`package_table`].
pub(crate) const PACKAGE_HEADER: &str = "Version\tURL\tSize";

/// The row of a package in [`package_table`]: a hosted package whose payload is not
/// uploaded yet says so instead of its URL.
pub(crate) fn package_row(p: &Package) -> String {
    let url = if p.payload_missing {
        "(payload missing)"
    } else {
        p.url.as_str()
    };
    format!("{}\t{url}\t{}", p.version, p.size)
}

/// Packages as a table and as JSON.
#[must_use]
pub fn package_table(packages: &[Package]) -> Output {
    Output::new(table(PACKAGE_HEADER, packages, package_row), &packages)
}

/// A table's lines: the header, then a row per item.
pub(crate) fn table<T>(header: &str, items: &[T], row: fn(&T) -> String) -> Vec<String> {
    std::iter::once(header.to_owned())
        .chain(items.iter().map(row))
        .collect()
}

/// A float as Go's `%v` prints it: `12.5`, `100`, `0`, `1e-05`.
#[must_use]
pub fn go_float(value: f64) -> String {
    let abs = value.abs();
    if value != 0.0 && !(1e-4..1e21).contains(&abs) {
        let text = format!("{value:e}");
        let Some((mantissa, exponent)) = text.split_once('e') else {
            return text;
        };
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exponent),
        };
        format!("{mantissa}e{sign}{digits:0>2}")
    } else {
        format!("{value}")
    }
}

/// Unix seconds as an RFC 3339 time (UTC), or the number when it is out of range.
pub(crate) fn rfc3339(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| seconds.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(go_float(12.5), "12.5");
        assert_eq!(go_float(100.0), "100");
        assert_eq!(go_float(0.0), "0");
        assert_eq!(go_float(0.00001), "1e-05");
    }

    #[test]
    fn times_are_rfc3339_or_the_number() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(i64::MAX), i64::MAX.to_string());
    }

    #[test]
    fn a_missing_payload_shows_instead_of_the_url() {
        let mut package = Package {
            version: "1.0.0".into(),
            url: "http://x/p".into(),
            size: "5".into(),
            ..Package::default()
        };
        assert_eq!(package_row(&package), "1.0.0\thttp://x/p\t5");
        package.payload_missing = true;
        assert_eq!(package_row(&package), "1.0.0\t(payload missing)\t5");
        let output = package_table(&[package]);
        assert_eq!(output.lines[0], PACKAGE_HEADER);
        assert_eq!(output.json[0]["version"], "1.0.0");
    }
}
