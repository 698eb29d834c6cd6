//! The image reference parser (`kod::image::reference`): arbitrary strings must parse or
//! fail without panicking, and whatever parses must round-trip: every way kod prints a
//! reference (normalised, with the default tag, familiar, JSON) parses back to the same
//! reference, and relocating it (`with_registry`, `with_tag`) gives references that round-trip
//! too.
//!
//! Input: `REFERENCE[\nREGISTRY[\nTAG]]` (the optional lines feed `with_registry` and
//! `with_tag`).
#![no_main]

use kod::image::reference::{parse_named, parse_normalized_named, Reference};
use libfuzzer_sys::fuzz_target;

/// Every printed form of `r` reads back as expected.
fn check_round_trip(r: &Reference, what: &str) {
    let plain = r.string_without_default_tag();
    assert_eq!(parse_normalized_named(&plain).as_ref(), Ok(r), "{what}: normalised form {plain:?}");
    assert_eq!(parse_named(&plain).as_ref(), Ok(r), "{what}: {plain:?} is canonical");
    let shown = r.to_string();
    assert_eq!(parse_normalized_named(&shown), Ok(r.tag_name_only()), "{what}: displayed form {shown:?}");
    let familiar = r.familiar_string();
    assert_eq!(parse_normalized_named(&familiar).as_ref(), Ok(r), "{what}: familiar form {familiar:?}");
    let json = serde_json::to_string(r).expect("a reference serialises");
    let back: Reference = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{what}: {json} does not deserialise: {e}"));
    assert_eq!(&back, r, "{what}: JSON {json}");
    assert_eq!(parse_normalized_named(&r.repository()), Ok(r.name_only()), "{what}: repository");
    let docker = r.docker_ref();
    assert_eq!(parse_normalized_named(&docker.to_string()), Ok(docker.clone()), "{what}: docker ref");
    assert!(docker.tag().is_some() != docker.digest().is_some(), "{what}: docker ref has exactly one of tag and digest");
}

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else { return };
    let mut lines = text.splitn(3, '\n');
    let reference = lines.next().unwrap_or_default();
    let registry = lines.next();
    let tag = lines.next();

    let named = parse_named(reference);
    let Ok(r) = parse_normalized_named(reference) else {
        assert!(named.is_err(), "parse_named accepts what parse_normalized_named refuses: {reference:?}");
        return;
    };
    if let Ok(n) = &named {
        assert_eq!(n, &r, "parse_named and parse_normalized_named disagree on {reference:?}");
        assert_eq!(n.string_without_default_tag(), reference, "parse_named accepted a non-canonical {reference:?}");
    }
    check_round_trip(&r, reference);
    if let Some(registry) = registry {
        if let Ok(moved) = r.with_registry(registry) {
            assert_eq!(moved.tag(), r.tag());
            assert_eq!(moved.digest(), r.digest());
            assert!(moved.path().ends_with(r.path()), "relocation keeps the path");
            check_round_trip(&moved, &format!("{reference} relocated to {registry}"));
        }
    }
    if let Some(tag) = tag {
        if let Ok(tagged) = r.with_tag(tag) {
            assert_eq!(tagged.tag(), Some(tag));
            check_round_trip(&tagged, &format!("{reference} tagged {tag}"));
        }
    }
});
