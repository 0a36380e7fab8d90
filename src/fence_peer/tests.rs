use super::*;
use crate::sys::cib::{Expression, NodeState, Rule};

fn summary(disk: &str, pdsk: &str) -> Summary {
    let text = format!(
        "exists resource name:r0 role:Secondary suspended:no\n\
         exists connection name:r0 peer-node-id:1 conn-name:beta connection:Connecting role:Unknown\n\
         exists device name:r0 volume:0 minor:0 disk:{disk} client:no quorum:yes\n\
         exists peer-device name:r0 peer-node-id:1 conn-name:beta volume:0 replication:Off peer-disk:{pdsk} peer-client:no\n\
         exists -\n"
    );
    drbd::parse_events2(&text, "r0").summary()
}

#[test]
fn exit_codes_by_peer_state_and_local_disk() {
    let up = summary("UpToDate", "DUnknown");
    let cons = summary("Consistent", "DUnknown");
    let outd = summary("Outdated", "DUnknown");
    // reachable, fenced
    assert_eq!(decide(&up, true, false, false), Decision::Place(4));
    assert_eq!(decide(&cons, true, false, false), Decision::Place(4));
    assert_eq!(decide(&up, false, true, false), Decision::Place(7));
    // Fenced but only Consistent: being able to shoot the peer does not make our data better.
    assert!(matches!(
        decide(&cons, false, true, false),
        Decision::Skip(5, _)
    ));
    assert_eq!(decide(&up, false, false, false), Decision::Place(5));
    assert!(matches!(
        decide(&cons, false, false, false),
        Decision::Skip(5, _)
    ));
    assert_eq!(decide(&cons, false, false, true), Decision::Place(5));
    assert!(matches!(
        decide(&outd, true, true, true),
        Decision::Skip(5, _)
    ));
    // Peer disks all UpToDate (the link came back), or no DRBD at all: nothing placed, 1.
    let back = summary("UpToDate", "UpToDate");
    assert!(matches!(
        decide(&back, false, false, false),
        Decision::Skip(1, _)
    ));
    let none = drbd::ResourceState::default().summary();
    assert!(matches!(
        decide(&none, true, true, false),
        Decision::Skip(1, _)
    ));
}

fn ns(in_ccm: &str, crmd: &str, expected: &str) -> NodeState {
    NodeState {
        uname: "beta".into(),
        in_ccm: Some(in_ccm.into()),
        crmd: Some(crmd.into()),
        expected: Some(expected.into()),
        join: Some("down".into()),
        ha_dead: false,
    }
}

#[test]
fn whether_pacemaker_will_fence_the_peer() {
    // Shot, or shut down cleanly.
    let v = node_view(Some(&ns("false", "offline", "down")), true, true);
    assert!(!v.will_fence);
    // Lost (power loss) with STONITH: it will be fenced, worth waiting.
    assert!(node_view(Some(&ns("false", "offline", "member")), true, true).will_fence);
    // Without STONITH nothing will change.
    let v = node_view(Some(&ns("false", "offline", "member")), false, true);
    assert!(!v.will_fence && v.crmd == "offline");
    // Up per the CIB: crmadmin is asked.
    let v = node_view(Some(&ns("true", "online", "member")), true, true);
    assert!(!v.will_fence && v.crmd == "online");
    // Never seen: startup fencing decides.
    assert!(node_view(None, true, true).will_fence);
    assert!(!node_view(None, true, false).will_fence);
    // Pacemaker 2.1.7 timestamps.
    let v = node_view(Some(&ns("1700000000", "1700000000", "member")), true, true);
    assert_eq!((v.in_ccm.as_str(), v.crmd.as_str()), ("true", "online"));
}

fn constraint() -> Constraint {
    Constraint {
        id: "drbd-fence-by-handler-r0-ms".into(),
        rsc: "ms".into(),
        rule_id: "drbd-fence-by-handler-r0-rule-ms".into(),
        role: "Master".into(),
        exprs: vec![
            (
                "drbd-fence-by-handler-r0-expr-0-ms".into(),
                "#uname".into(),
                "alpha".into(),
            ),
            (
                "drbd-fence-by-handler-r0-expr-2-ms".into(),
                "#uname".into(),
                "gamma".into(),
            ),
        ],
    }
}

#[test]
fn the_constraint_as_the_reference_writes_it() {
    assert_eq!(
        constraint().to_xml(),
        "<rsc_location rsc=\"ms\" id=\"drbd-fence-by-handler-r0-ms\">\n \
         <rule role=\"Master\" score=\"-INFINITY\" id=\"drbd-fence-by-handler-r0-rule-ms\">\n  \
         <expression attribute=\"#uname\" operation=\"ne\" value=\"alpha\" id=\"drbd-fence-by-handler-r0-expr-0-ms\"/>\n  \
         <expression attribute=\"#uname\" operation=\"ne\" value=\"gamma\" id=\"drbd-fence-by-handler-r0-expr-2-ms\"/>\n \
         </rule>\n</rsc_location>\n"
    );
}

fn location(role: &str, values: &[&str]) -> Location {
    Location {
        id: "drbd-fence-by-handler-r0-ms".into(),
        rsc: "ms".into(),
        rules: vec![Rule {
            id: "drbd-fence-by-handler-r0-rule-ms".into(),
            role: role.into(),
            score: "-INFINITY".into(),
            boolean_op: "and".into(),
            expressions: values
                .iter()
                .enumerate()
                .map(|(i, v)| Expression {
                    id: format!("e{i}"),
                    attribute: "#uname".into(),
                    operation: "ne".into(),
                    value: (*v).into(),
                })
                .collect(),
            other: false,
        }],
    }
}

#[test]
fn an_existing_constraint_matches_by_content_not_ids_or_order() {
    let c = constraint();
    assert!(c.matches(&location("Master", &["gamma", "alpha"])));
    assert!(c.matches(&location("Promoted", &["alpha", "gamma"])));
    assert!(!c.matches(&location("Master", &["alpha"])));
    assert!(!c.matches(&location("Slave", &["alpha", "gamma"])));
}

#[test]
fn fencing_restricts_an_existing_constraint_further() {
    let loc = location("Master", &["alpha", "beta", "gamma"]);
    let r = Constraint::restricted(&loc, &[("#uname".into(), "beta".into())]).unwrap();
    let values: Vec<&str> = r.exprs.iter().map(|(_, _, v)| v.as_str()).collect();
    assert_eq!(values, ["alpha", "gamma"]);
    assert_eq!(r.rule_id, "drbd-fence-by-handler-r0-rule-ms");
    assert_eq!(r.exprs[0].0, "e0");
}

#[test]
fn called_as() {
    assert_eq!(
        Action::from_program("crm-fence-peer.9.sh"),
        Some(Action::Fence)
    );
    assert_eq!(
        Action::from_program("crm-fence-peer.sh"),
        Some(Action::Fence)
    );
    assert_eq!(
        Action::from_program("crm-unfence-peer.9.sh"),
        Some(Action::Unfence)
    );
    assert_eq!(Action::from_program("ferro-ocf"), None);
    assert_eq!(
        Action::from_subcommand("unfence-peer"),
        Some(Action::Unfence)
    );
}
