//! User-id maps: `/proc/self/{uid,gid}_map` (which ids exist in our namespace) and
//! `/etc/sub{u,g}id` (which of them a user may hand to a nested namespace through
//! `newuidmap`). A subordinate range is usable only if it lies inside the ids our own
//! namespace maps; inside a container that is the container's map, not the host's.

use serde::{Deserialize, Serialize};

/// One line of `uid_map`: `inside outside count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMapLine {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// One range of `/etc/subuid`: `start count` for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubIdRange {
    pub start: u32,
    pub count: u32,
}

pub fn parse_id_map(text: &str) -> Vec<IdMapLine> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace().map(|s| s.parse::<u32>().ok());
            Some(IdMapLine {
                inside: it.next()??,
                outside: it.next()??,
                count: it.next()??,
            })
        })
        .collect()
}

/// Whether a map is the initial namespace's identity map (`0 0 4294967295`).
pub fn is_initial_ns(map: &[IdMapLine]) -> bool {
    matches!(
        map,
        [IdMapLine {
            inside: 0,
            outside: 0,
            count: u32::MAX
        }]
    )
}

/// Ranges of `/etc/subuid`-format text that belong to `user` (by name or numeric id).
/// Malformed lines are skipped, as shadow's `newuidmap` does.
pub fn parse_subid(text: &str, user: Option<&str>, id: u32) -> Vec<SubIdRange> {
    let id = id.to_string();
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut it = l.trim().split(':');
            let owner = it.next()?;
            if owner != id && Some(owner) != user {
                return None;
            }
            let start = it.next()?.parse().ok()?;
            let count = it.next()?.parse().ok()?;
            Some(SubIdRange { start, count })
        })
        .collect()
}

/// How many ids of `ranges` lie inside the ids `map` makes visible in our namespace.
pub fn usable_ids(ranges: &[SubIdRange], map: &[IdMapLine]) -> u64 {
    ranges
        .iter()
        .map(|r| {
            let (s, e) = (r.start as u64, r.start as u64 + r.count as u64);
            map.iter()
                .map(|m| {
                    let (ms, me) = (m.inside as u64, m.inside as u64 + m.count as u64);
                    e.min(me).saturating_sub(s.max(ms))
                })
                .sum::<u64>()
        })
        .sum()
}

/// Whether two ranges share ids: the kernel refuses such a map (EINVAL), and `newuidmap`
/// with it.
pub fn ranges_overlap(ranges: &[SubIdRange]) -> bool {
    ranges.iter().enumerate().any(|(i, a)| {
        ranges[i + 1..].iter().any(|b| {
            let (a0, a1) = (a.start as u64, a.start as u64 + a.count as u64);
            let (b0, b1) = (b.start as u64, b.start as u64 + b.count as u64);
            a0 < b1 && b0 < a1
        })
    })
}

/// The name of `uid` in `/etc/passwd`-format text.
pub fn user_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let mut it = l.split(':');
        let name = it.next()?;
        let _pw = it.next()?;
        (it.next()?.parse::<u32>().ok()? == uid).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subid_ranges_outside_the_container_map_are_not_usable() {
        // A container whose own map is 0..65536 of some host range.
        let map = parse_id_map("         0     100000      65536\n");
        let inside = parse_subid("build:1:999\nbuild:1001:64535\n", Some("build"), 1000);
        assert_eq!(usable_ids(&inside, &map), 65534);
        let host_style = parse_subid("build:100000:65536\n", Some("build"), 1000);
        assert_eq!(usable_ids(&host_style, &map), 0);
    }

    #[test]
    fn subid_matches_name_or_uid_and_skips_garbage() {
        let r = parse_subid(
            "# c\nother:1:5\n1000:10:20\nbuild:x:1\nbuild:30:40\n",
            Some("build"),
            1000,
        );
        assert_eq!(
            r,
            vec![
                SubIdRange {
                    start: 10,
                    count: 20
                },
                SubIdRange {
                    start: 30,
                    count: 40
                }
            ]
        );
    }

    #[test]
    fn overlapping_ranges_are_detected() {
        let r = parse_subid("u:165536:65536\nu:200000:65536\n", Some("u"), 1);
        assert!(ranges_overlap(&r));
        let r = parse_subid("u:100000:65536\nu:165536:65536\n", Some("u"), 1);
        assert!(!ranges_overlap(&r));
    }

    #[test]
    fn initial_namespace_is_recognised() {
        assert!(is_initial_ns(&parse_id_map("0 0 4294967295\n")));
        assert!(!is_initial_ns(&parse_id_map("0 1000 1\n")));
    }

    #[test]
    fn passwd_lookup() {
        assert_eq!(
            user_name(
                "root:x:0:0::/root:/bin/sh\nbuild:x:1000:1000::/h:/bin/sh\n",
                1000
            )
            .as_deref(),
            Some("build")
        );
        assert_eq!(user_name("root:x:0:0::/root:/bin/sh\n", 7), None);
    }
}
