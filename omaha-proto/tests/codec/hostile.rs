//! Hostile input: every limit and security rule fails with its own error variant and a
//! message that says what and where.

use omaha_proto::{DecodeError, Limits, Request, Response};

const CHECK: &str = r#"<request protocol="3.0"><app appid="x"><updatecheck/></app></request>"#;

fn req(xml: &str) -> Result<Request, DecodeError> {
    Request::decode(xml.as_bytes())
}

#[test]
fn document_size_limit() {
    let limits = Limits {
        max_document_bytes: 64,
        ..Limits::default()
    };
    assert!(
        Request::decode_with_limits(CHECK.as_bytes(), &limits).is_err_and(|e| {
            e == DecodeError::DocumentTooLarge {
                size: CHECK.len(),
                limit: 64,
            }
        })
    );
    let big = format!("<request>{}</request>", " ".repeat(1024 * 1024));
    let err = req(&big).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::DocumentTooLarge {
            limit: 1_048_576,
            ..
        }
    ));
    assert!(
        err.to_string().contains("over the limit of 1048576 bytes"),
        "{err}"
    );
}

#[test]
fn nesting_depth_limit_applies_to_unknown_elements_too() {
    let deep = format!(
        "<request>{}{}</request>",
        "<x>".repeat(40),
        "</x>".repeat(40)
    );
    let err = req(&deep).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::TooDeep {
                limit: 32,
                path: "request",
                offset: 102
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("deeper than 32"), "{err}");
    // Self-closing elements count as well.
    let deep_empty = format!(
        "<request>{}<x/>{}</request>",
        "<x>".repeat(31),
        "</x>".repeat(31)
    );
    assert!(matches!(req(&deep_empty), Err(DecodeError::TooDeep { .. })));
    let ok = format!(
        "<request>{}{}</request>",
        "<x>".repeat(31),
        "</x>".repeat(31)
    );
    assert!(req(&ok).is_ok());
}

#[test]
fn apps_per_request_limit() {
    let apps = r#"<app appid="a"/>"#.repeat(65);
    let err = req(&format!("<request>{apps}</request>")).unwrap_err();
    assert_eq!(
        err,
        DecodeError::TooManyApps {
            path: "request",
            limit: 64,
            offset: 9 + 64 * 16
        }
    );
    let resp = format!("<response>{}</response>", r#"<app appid="a"/>"#.repeat(65));
    assert!(matches!(
        Response::decode(resp.as_bytes()),
        Err(DecodeError::TooManyApps {
            path: "response",
            ..
        })
    ));
    assert_eq!(
        req(&format!("<request>{}</request>", &apps[16..]))
            .unwrap()
            .apps
            .len(),
        64
    );
}

#[test]
fn events_per_app_limit() {
    let events = r#"<event eventtype="3" eventresult="1"/>"#.repeat(65);
    let err = req(&format!(
        r#"<request><app appid="a">{events}</app></request>"#
    ))
    .unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::TooManyEvents {
                path: "request/app",
                limit: 64,
                ..
            }
        ),
        "{err:?}"
    );
    let acks = r#"<event status="ok"/>"#.repeat(65);
    let resp = format!(r#"<response><app appid="a">{acks}</app></response>"#);
    assert!(matches!(
        Response::decode(resp.as_bytes()),
        Err(DecodeError::TooManyEvents {
            path: "response/app",
            ..
        })
    ));
}

#[test]
fn attribute_length_limit_names_the_attribute() {
    let long = "v".repeat(8 * 1024 + 1);
    let err = req(&format!(
        r#"<request><app appid="a" track="{long}"/></request>"#
    ))
    .unwrap_err();
    assert_eq!(
        err,
        DecodeError::AttributeTooLong {
            path: "request/app",
            attribute: "track".into(),
            len: 8193,
            limit: 8192,
            offset: 31,
        }
    );
    assert!(err.to_string().contains("request/app@track"), "{err}");
    // Unknown attributes are bounded too.
    assert!(matches!(
        req(&format!(r#"<request foo="{long}"/>"#)),
        Err(DecodeError::AttributeTooLong { .. })
    ));
    // So is element text.
    let text = format!(r#"<request><app appid="a"><data name="x">{long}</data></app></request>"#);
    assert!(matches!(
        req(&text),
        Err(DecodeError::AttributeTooLong { attribute, .. }) if attribute == "#text"
    ));
}

#[test]
fn doctype_and_entity_declarations_are_rejected() {
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE request [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
]>
<request protocol="3.0"><app appid="&lol2;"/></request>"#;
    let err = req(laughs).unwrap_err();
    assert_eq!(err, DecodeError::DoctypeNotAllowed { offset: 22 });
    assert!(
        err.to_string()
            .contains("DTDs and entity declarations are not accepted")
    );
    let external = r#"<!DOCTYPE request SYSTEM "file:///etc/passwd"><request/>"#;
    assert!(matches!(
        req(external),
        Err(DecodeError::DoctypeNotAllowed { offset: 0 })
    ));
}

#[test]
fn undeclared_entities_are_never_expanded() {
    let err = req(r#"<request><app appid="&xxe;"/></request>"#).unwrap_err();
    assert_eq!(
        err,
        DecodeError::UnknownEntity {
            name: "xxe".into(),
            path: "request/app",
            offset: 21
        }
    );
    assert!(err.to_string().contains("unknown entity `&xxe;`"));
    // In text as well.
    let text = r#"<request><app appid="a"><data name="x">&xxe;</data></app></request>"#;
    assert!(matches!(
        req(text),
        Err(DecodeError::UnknownEntity {
            path: "request/app/data",
            ..
        })
    ));
    // Broken references.
    assert!(matches!(
        req(r#"<request><app appid="a&#xD800;"/></request>"#),
        Err(DecodeError::InvalidReference { .. })
    ));
    assert!(matches!(
        req(r#"<request><app appid="a & b"/></request>"#),
        Err(DecodeError::InvalidReference { .. })
    ));
}

#[test]
fn invalid_utf8_is_rejected_with_its_offset() {
    let mut bytes = br#"<request><app appid="ab"/></request>"#.to_vec();
    bytes[21] = 0xff;
    assert_eq!(
        Request::decode(&bytes),
        Err(DecodeError::InvalidUtf8 { offset: 21 })
    );
    // UTF-16 is not accepted either.
    let utf16: Vec<u8> = "\u{feff}<request/>"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    assert!(matches!(
        Request::decode(&utf16),
        Err(DecodeError::InvalidUtf8 { offset: 0 })
    ));
}

#[test]
fn structural_errors_say_where() {
    assert_eq!(
        req(""),
        Err(DecodeError::MissingRoot {
            expected: "request"
        })
    );
    assert_eq!(
        req("  <!-- c -->  "),
        Err(DecodeError::MissingRoot {
            expected: "request"
        })
    );
    assert!(matches!(
        req("<response/>"),
        Err(DecodeError::WrongRoot { expected: "request", found, offset: 0 }) if found == "response"
    ));
    assert!(matches!(
        req(r#"<request><app appid="a"><ping>"#),
        Err(DecodeError::UnexpectedEof {
            path: "request/app/ping"
        })
    ));
    let err = req(r#"<request><app appid="a"></request>"#).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::Malformed {
                path: "request/app",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(matches!(
        req("<request/><request/>"),
        Err(DecodeError::ContentOutsideRoot { offset: 10 })
    ));
    assert!(matches!(
        req("junk<request/>"),
        Err(DecodeError::ContentOutsideRoot { offset: 0 })
    ));
    assert!(matches!(
        req(r#"<request><app appid="a" appid="b"/></request>"#),
        Err(DecodeError::DuplicateAttribute { path: "request/app", attribute, offset: 31 }) if attribute == "appid"
    ));
    assert!(matches!(
        req(r#"<request><app appid="a"><ping/><ping/></app></request>"#),
        Err(DecodeError::DuplicateElement {
            path: "request/app",
            element: "ping",
            offset: 31
        })
    ));
    assert!(matches!(
        req(r#"<request><app appid="a" delta_okay="maybe"/></request>"#),
        Err(DecodeError::InvalidValue {
            attribute: "delta_okay",
            ..
        })
    ));
    let err =
        req(r#"<request><app appid="a"><event eventtype="three"/></app></request>"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value \"three\" for request/app/event@eventtype at byte 42: expected a decimal integer"
    );
    assert!(matches!(
        Response::decode(br#"<response><app><updatecheck><manifest><packages><package size="-1"/></packages></manifest></updatecheck></app></response>"#),
        Err(DecodeError::InvalidValue { attribute: "size", path: "response/app/updatecheck/manifest/packages/package", .. })
    ));
}

#[test]
fn items_per_list_limit() {
    let packages = r#"<package name="p" size="1" required="true"/>"#.repeat(65);
    let doc = format!(
        r#"<response protocol="3.0"><app appid="a" status="ok"><updatecheck status="ok"><manifest version="1"><packages>{packages}</packages></manifest></updatecheck></app></response>"#
    );
    let err = Response::decode(doc.as_bytes()).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::TooManyItems {
                path: "response/app/updatecheck/manifest/packages",
                element: "package",
                limit: 64,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("more than 64 package items"),
        "{err}"
    );
    let urls = r#"<url codebase="https://h/"/>"#.repeat(64);
    let doc = format!(
        r#"<response><app appid="a"><updatecheck status="ok"><urls>{urls}</urls></updatecheck></app></response>"#
    );
    assert_eq!(
        Response::decode(doc.as_bytes()).unwrap().apps[0]
            .update_check
            .as_ref()
            .unwrap()
            .urls
            .len(),
        64
    );
}
