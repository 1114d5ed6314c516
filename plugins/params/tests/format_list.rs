//! One format list end to end (issue 15): the plugin's usage and errors, the JSON of the
//! protocol, the flags of `cdn register` and `cdn-local` (both `ParamArgs`) and README.md must
//! offer exactly [`Format::ALL`]. The enum is the one definition; this test fails when any text
//! or form beside it drifts.

use cdn_params::{parse_args, ArgsError, Format, USAGE};

fn names() -> Vec<&'static str> {
    Format::ALL.iter().map(|f| f.name()).collect()
}

#[test]
fn the_plugin_usage_lists_every_format() {
    let list = format!("[--format {}]", names().join("|"));
    assert!(USAGE.contains(&list), "USAGE lacks {list}:\n{USAGE}");
}

#[test]
fn a_bad_format_names_every_format() {
    let Err(ArgsError::BadValue { expected, .. }) = parse_args(["--format", "gif"]) else {
        panic!("--format gif must be refused as a bad value");
    };
    let all = names();
    let (last, rest) = all.split_last().expect("formats");
    assert_eq!(expected, format!("{} or {last}", rest.join(", ")));
    for name in all {
        assert!(parse_args(["--format", name]).is_ok(), "--format {name}");
    }
}

/// Every `--format a\|b\|...` in README.md (the flag tables) lists exactly the formats.
#[test]
fn the_readme_lists_every_format() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md at the workspace root");
    let lists: Vec<Vec<&str>> = readme
        .match_indices("--format ")
        .filter_map(|(at, flag)| {
            let rest = &readme[at + flag.len()..];
            let end = rest.find(['`', ' ', '\n'])?;
            let list = &rest[..end];
            list.contains("\\|").then(|| list.split("\\|").collect())
        })
        .collect();
    assert!(!lists.is_empty(), "README.md lists the formats somewhere");
    for list in lists {
        assert_eq!(list, names(), "a --format list in README.md");
    }
}

#[cfg(feature = "serde")]
#[test]
fn the_protocol_names_every_format_alike() {
    for format in Format::ALL {
        let json = serde_json::to_string(&format).expect("serialises");
        assert_eq!(json, format!("\"{}\"", format.name()));
        assert_eq!(serde_json::from_str::<Format>(&json).ok(), Some(format));
    }
}

#[cfg(feature = "clap")]
#[test]
fn the_flags_of_cdn_and_cdn_local_offer_every_format() {
    use clap::ValueEnum;
    let offered: Vec<String> = Format::value_variants()
        .iter()
        .filter_map(|f| f.to_possible_value())
        .map(|v| v.get_name().to_string())
        .collect();
    assert_eq!(offered, names());
}
