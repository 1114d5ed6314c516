//! [`MasterList`]: the masters a worker or client may talk to, as `--master` and `$CDN_MASTER`
//! give them (`HOST:PORT[,HOST:PORT...]`), checked once, in the order given.
//!
//! Only the form is checked here (no name lookup, no network): a host name, an IPv4 address or
//! a bracketed IPv6 address, then a port from 1 to 65535. Connecting, and moving from one
//! master to the next, is `cdn_transport::Dialer`'s.

use std::fmt;
use std::str::FromStr;

/// What an address looks like, for error messages.
const FORM: &str = "HOST:PORT[,HOST:PORT...], e.g. 127.0.0.1:4433,127.0.0.1:4434";

/// One or more master addresses (`HOST:PORT`), in the order given, none twice. Every master of
/// a deployment answers every request (they share one registry and one blob store), so a worker
/// or client may use any of them; the order is the order they are tried in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterList(Vec<String>);

/// Why a master list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MasterListError {
    #[error("no master address given (expected {FORM})")]
    Empty,
    /// An empty item: a comma at the start or the end, or two in a row.
    #[error("master address {position} of {list:?} is empty (expected {FORM})")]
    EmptyItem { position: usize, list: String },
    #[error("bad master address {item:?}: {why}")]
    BadAddress { item: String, why: &'static str },
    #[error("master address {item:?} is listed twice")]
    Duplicate { item: String },
}

impl MasterList {
    /// Parses `HOST:PORT[,HOST:PORT...]`; spaces around an item are ignored.
    pub fn parse(list: &str) -> Result<MasterList, MasterListError> {
        if list.trim().is_empty() {
            return Err(MasterListError::Empty);
        }
        let mut addresses: Vec<String> = Vec::new();
        for (index, item) in list.split(',').enumerate() {
            let item = item.trim();
            if item.is_empty() {
                return Err(MasterListError::EmptyItem {
                    position: index + 1,
                    list: list.to_string(),
                });
            }
            check_address(item).map_err(|why| MasterListError::BadAddress {
                item: item.to_string(),
                why,
            })?;
            if addresses.iter().any(|seen| seen == item) {
                return Err(MasterListError::Duplicate {
                    item: item.to_string(),
                });
            }
            addresses.push(item.to_string());
        }
        Ok(MasterList(addresses))
    }

    /// How many masters there are (at least one).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always `false`: a list holds at least one master.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The address at `index`, counted round the list (`index` modulo [`MasterList::len`]).
    pub fn get(&self, index: usize) -> &str {
        &self.0[index % self.0.len()]
    }

    /// The index after `index`, round the list: where to go when `index` is lost.
    pub fn next_after(&self, index: usize) -> usize {
        (index % self.0.len() + 1) % self.0.len()
    }

    /// The addresses in the order given.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Every master once, with its index, starting at `start` (modulo the length) and going
    /// round: the order to try them in when `start` is the one to prefer.
    pub fn rotation(&self, start: usize) -> impl Iterator<Item = (usize, &str)> {
        let len = self.0.len();
        (0..len).map(move |offset| {
            let index = (start % len + offset) % len;
            (index, self.0[index].as_str())
        })
    }
}

impl FromStr for MasterList {
    type Err = MasterListError;

    fn from_str(list: &str) -> Result<MasterList, MasterListError> {
        MasterList::parse(list)
    }
}

/// The list as it is written on the command line: `A,B,...`.
impl fmt::Display for MasterList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

/// `HOST:PORT`: a host name, an IPv4 address or a bracketed IPv6 address; a port from 1 to
/// 65535.
fn check_address(item: &str) -> Result<(), &'static str> {
    let (host, port) = item
        .rsplit_once(':')
        .ok_or("expected HOST:PORT, e.g. 127.0.0.1:4433")?;
    if host.is_empty() {
        return Err("the host is missing (expected HOST:PORT, e.g. 127.0.0.1:4433)");
    }
    if !matches!(port.parse::<u16>(), Ok(1..)) {
        return Err("the port must be a number from 1 to 65535");
    }
    if let Some(inner) = host.strip_prefix('[') {
        let ip = inner
            .strip_suffix(']')
            .ok_or("an IPv6 address goes in brackets, e.g. [::1]:4433")?;
        return ip
            .parse::<std::net::Ipv6Addr>()
            .map(|_| ())
            .map_err(|_| "not an IPv6 address between the brackets");
    }
    if host.contains(':') {
        return Err("an IPv6 address goes in brackets, e.g. [::1]:4433");
    }
    let name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    if !host.chars().all(name_char) {
        return Err("a host name holds only letters, digits, '-', '.' and '_'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s: &str) -> MasterList {
        MasterList::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn one_or_several_addresses_in_order() {
        let one = list("127.0.0.1:4433");
        assert_eq!(one.len(), 1);
        assert!(!one.is_empty());
        assert_eq!(one.to_string(), "127.0.0.1:4433");
        let several = list("a.example.org:4433, 10.0.0.2:4433 ,[::1]:9,master_2:1");
        assert_eq!(
            several.iter().collect::<Vec<_>>(),
            [
                "a.example.org:4433",
                "10.0.0.2:4433",
                "[::1]:9",
                "master_2:1"
            ]
        );
        assert_eq!(
            several.to_string(),
            "a.example.org:4433,10.0.0.2:4433,[::1]:9,master_2:1"
        );
        assert_eq!(several.to_string().parse::<MasterList>(), Ok(several));
    }

    #[test]
    fn rotation_starts_where_asked_and_goes_round() {
        let masters = list("a:1,b:2,c:3");
        let order = |start| masters.rotation(start).collect::<Vec<_>>();
        assert_eq!(order(0), [(0, "a:1"), (1, "b:2"), (2, "c:3")]);
        assert_eq!(order(2), [(2, "c:3"), (0, "a:1"), (1, "b:2")]);
        assert_eq!(order(4), order(1));
        assert_eq!(masters.next_after(0), 1);
        assert_eq!(masters.next_after(2), 0);
        assert_eq!(masters.get(4), "b:2");
        let one = list("a:1");
        assert_eq!(one.rotation(3).collect::<Vec<_>>(), [(0, "a:1")]);
        assert_eq!(one.next_after(0), 0);
    }

    #[test]
    fn empty_items_are_refused_with_their_position() {
        assert_eq!(MasterList::parse(""), Err(MasterListError::Empty));
        assert_eq!(MasterList::parse("  "), Err(MasterListError::Empty));
        for (bad, position) in [("a:1,", 2), (",a:1", 1), ("a:1,,b:2", 2), ("a:1, ,b:2", 2)] {
            let err = MasterList::parse(bad).unwrap_err();
            assert_eq!(
                err,
                MasterListError::EmptyItem {
                    position,
                    list: bad.to_string()
                },
                "{bad:?}"
            );
            let text = err.to_string();
            assert!(text.contains("is empty") && text.contains(bad), "{text}");
        }
    }

    #[test]
    fn bad_addresses_are_refused_saying_why() {
        for (bad, why) in [
            ("localhost", "expected HOST:PORT"),
            (":4433", "the host is missing"),
            ("localhost:", "the port must be"),
            ("localhost:0", "the port must be"),
            ("localhost:99999", "the port must be"),
            ("localhost:http", "the port must be"),
            ("::1:4433", "in brackets"),
            ("[::1:4433", "in brackets"),
            ("[nope]:4433", "not an IPv6 address"),
            ("ho st:1", "a host name holds only"),
            ("a/b:1", "a host name holds only"),
        ] {
            let err = MasterList::parse(&format!("127.0.0.1:4433,{bad}")).unwrap_err();
            let text = err.to_string();
            assert!(
                matches!(&err, MasterListError::BadAddress { item, .. } if item == bad),
                "{bad:?}: {err:?}"
            );
            assert!(text.contains(why) && text.contains(bad), "{bad:?}: {text}");
        }
    }

    #[test]
    fn an_address_listed_twice_is_refused() {
        assert_eq!(
            MasterList::parse("a:1,b:2, a:1"),
            Err(MasterListError::Duplicate { item: "a:1".into() })
        );
    }
}
