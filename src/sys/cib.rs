//! What the DRBD fence-peer handler reads from a CIB document (`cibadmin -Q`): quorum, the
//! nodes with their attributes and their state in the status section, the cluster
//! properties, the promotable clone of a DRBD resource, and location constraints with their
//! rules, which it can evaluate for a node the way the scheduler does for `ne`/`eq`
//! expressions (what `crm_mon` reports as a ban).

use anyhow::{bail, Context, Result};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeDef {
    pub id: String,
    pub uname: String,
    /// "member" (or absent), "remote", "ping".
    pub kind: String,
    /// The node's permanent attributes (instance_attributes of the `<node>`).
    pub attrs: Vec<(String, String)>,
}

/// A `<node_state>` of the status section, the controller's view of a node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeState {
    pub uname: String,
    /// None when the attribute is missing (legacy clusters, never-seen nodes).
    pub in_ccm: Option<String>,
    pub crmd: Option<String>,
    pub expected: Option<String>,
    pub join: Option<String>,
    /// Pacemaker 1.0's `ha="dead"`.
    pub ha_dead: bool,
}

impl NodeState {
    /// In the cluster membership. Pacemaker 2.1.7 and later record the time the node joined
    /// instead of "true".
    pub fn in_ccm(&self) -> Option<bool> {
        self.in_ccm.as_deref().map(is_on)
    }

    /// The node's controller is up: "online", or (2.1.7 and later) the time it came up.
    pub fn crmd_online(&self) -> bool {
        self.crmd.as_deref().is_some_and(is_on)
    }
}

fn is_on(v: &str) -> bool {
    v == "true" || v == "online" || v.parse::<u64>().is_ok_and(|t| t > 0)
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expression {
    pub id: String,
    pub attribute: String,
    pub operation: String,
    pub value: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    pub role: String,
    pub score: String,
    /// "and" (the default) or "or".
    pub boolean_op: String,
    pub expressions: Vec<Expression>,
    /// Anything in the rule besides plain expressions (nested rules, date expressions): the
    /// rule is then not evaluated here.
    pub other: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    pub id: String,
    pub rsc: String,
    pub rules: Vec<Rule>,
}

#[derive(Clone, Debug, Default)]
pub struct Cib {
    /// The `<cib ...>` tag's attributes, for messages ("epoch", "have-quorum", ...).
    pub header: Vec<(String, String)>,
    pub nodes: Vec<NodeDef>,
    pub node_states: Vec<NodeState>,
    /// Cluster properties (crm_config), in document order.
    pub properties: Vec<(String, String)>,
    /// (clone or master id, drbd_resource) for each primitive with a drbd_resource parameter
    /// inside a clone or master.
    pub drbd_clones: Vec<(String, String)>,
    pub locations: Vec<Location>,
}

impl Cib {
    pub fn header_attr(&self, name: &str) -> Option<&str> {
        find(&self.header, name)
    }

    /// The CIB says the partition has quorum (`have-quorum="1"`, or "true").
    pub fn have_quorum(&self) -> bool {
        matches!(self.header_attr("have-quorum"), Some("1" | "true"))
    }

    /// The last value of a cluster property, written with '-' or '_' (Pacemaker accepts both).
    pub fn property(&self, name: &str) -> Option<&str> {
        let norm = |s: &str| s.replace('_', "-");
        let want = norm(name);
        self.properties
            .iter()
            .rev()
            .find(|(k, _)| norm(k) == want)
            .map(|(_, v)| v.as_str())
    }

    /// The id of the clone (or master) running the DRBD resource `res`.
    pub fn drbd_clone(&self, res: &str) -> Option<&str> {
        self.drbd_clones
            .iter()
            .find(|(_, r)| r == res)
            .map(|(id, _)| id.as_str())
    }

    pub fn location(&self, id: &str) -> Option<&Location> {
        self.locations.iter().find(|l| l.id == id)
    }

    pub fn node_state(&self, uname: &str) -> Option<&NodeState> {
        self.node_states.iter().find(|n| n.uname == uname)
    }

    /// A node's attribute as rules see it: #uname, #id, #kind, or a permanent node attribute.
    pub fn node_attr(&self, uname: &str, attr: &str) -> Option<String> {
        let n = self.nodes.iter().find(|n| n.uname == uname);
        match attr {
            "#uname" => Some(uname.to_owned()),
            "#id" => n.map(|n| n.id.clone()),
            "#kind" => n.map(|n| {
                if n.kind.is_empty() {
                    "cluster".to_owned()
                } else {
                    n.kind.clone()
                }
            }),
            _ => n.and_then(|n| find(&n.attrs, attr)).map(str::to_owned),
        }
    }

    /// Whether the constraint bans `node` from `rsc` (a -INFINITY rule that matches it). Node
    /// names compare case-insensitively, as the reference compares crm_mon's ban list.
    pub fn bans(&self, loc: &Location, rsc: &str, node: &str) -> bool {
        let Some(uname) = self
            .nodes
            .iter()
            .map(|n| n.uname.as_str())
            .find(|u| u.eq_ignore_ascii_case(node))
            .or(Some(node))
        else {
            return false;
        };
        loc.rsc == rsc
            && loc.rules.iter().any(|r| {
                r.score == "-INFINITY" && !r.other && !r.expressions.is_empty() && {
                    let eval = |e: &Expression| {
                        let v = self.node_attr(uname, &e.attribute);
                        match e.operation.as_str() {
                            "ne" => v.as_deref() != Some(e.value.as_str()),
                            "eq" => v.as_deref() == Some(e.value.as_str()),
                            "defined" => v.is_some(),
                            "not_defined" => v.is_none(),
                            _ => false,
                        }
                    };
                    if r.boolean_op == "or" {
                        r.expressions.iter().any(eval)
                    } else {
                        r.expressions.iter().all(eval)
                    }
                }
            })
    }

    pub fn parse(xml: &str) -> Result<Cib> {
        let mut cib = Cib::default();
        let mut r = Reader::from_str(xml);
        // Element names from the root to the current element.
        let mut path: Vec<String> = Vec::new();
        // The clone/master being read, and whether its drbd_resource was found.
        let mut clone: Option<String> = None;
        let mut in_rule = 0usize;
        loop {
            let ev = r.read_event().context("the CIB is not well-formed XML")?;
            let (e, empty) = match &ev {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(_) => {
                    let name = path.pop().unwrap_or_default();
                    match name.as_str() {
                        "clone" | "master" => clone = None,
                        "rule" => in_rule = in_rule.saturating_sub(1),
                        _ => {}
                    }
                    continue;
                }
                Event::Eof => break,
                _ => continue,
            };
            let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
            let a = attrs(e)?;
            let under = |p: &str| path.iter().any(|x| x == p);
            match name.as_str() {
                "cib" => cib.header = a.clone(),
                "node" if path.last().is_some_and(|p| p == "nodes") => cib.nodes.push(NodeDef {
                    id: get(&a, "id"),
                    uname: get(&a, "uname"),
                    kind: get(&a, "type"),
                    attrs: Vec::new(),
                }),
                "nvpair" if under("nodes") && under("node") => {
                    if let Some(n) = cib.nodes.last_mut() {
                        n.attrs.push((get(&a, "name"), get(&a, "value")));
                    }
                }
                "nvpair" if under("crm_config") && under("cluster_property_set") => {
                    cib.properties.push((get(&a, "name"), get(&a, "value")))
                }
                "clone" | "master" if under("resources") => clone = Some(get(&a, "id")),
                "nvpair"
                    if under("primitive")
                        && under("instance_attributes")
                        && find(&a, "name") == Some("drbd_resource") =>
                {
                    if let Some(c) = &clone {
                        if !cib.drbd_clones.iter().any(|(id, _)| id == c) {
                            cib.drbd_clones.push((c.clone(), get(&a, "value")));
                        }
                    }
                }
                "node_state" if under("status") => cib.node_states.push(NodeState {
                    uname: get(&a, "uname"),
                    in_ccm: find(&a, "in_ccm").map(str::to_owned),
                    crmd: find(&a, "crmd").map(str::to_owned),
                    expected: find(&a, "expected").map(str::to_owned),
                    join: find(&a, "join").map(str::to_owned),
                    ha_dead: find(&a, "ha") == Some("dead"),
                }),
                "rsc_location" if under("constraints") => cib.locations.push(Location {
                    id: get(&a, "id"),
                    rsc: get(&a, "rsc"),
                    rules: Vec::new(),
                }),
                "rule" if under("rsc_location") => {
                    if in_rule > 0 {
                        if let Some(rule) =
                            cib.locations.last_mut().and_then(|l| l.rules.last_mut())
                        {
                            rule.other = true;
                        }
                    } else if let Some(l) = cib.locations.last_mut() {
                        l.rules.push(Rule {
                            id: get(&a, "id"),
                            role: get(&a, "role"),
                            score: get(&a, "score"),
                            boolean_op: find(&a, "boolean-op").unwrap_or("and").to_owned(),
                            ..Rule::default()
                        });
                    }
                    if !empty {
                        in_rule += 1;
                    }
                }
                _ if in_rule > 0 && under("rsc_location") => {
                    if let Some(rule) = cib.locations.last_mut().and_then(|l| l.rules.last_mut()) {
                        if name == "expression" && find(&a, "value-source").is_none() {
                            rule.expressions.push(Expression {
                                id: get(&a, "id"),
                                attribute: get(&a, "attribute"),
                                operation: get(&a, "operation"),
                                value: get(&a, "value"),
                            });
                        } else {
                            rule.other = true;
                        }
                    }
                }
                _ => {}
            }
            if !empty {
                path.push(name);
            }
        }
        if cib.header.is_empty() {
            bail!("not a CIB: no <cib> element");
        }
        Ok(cib)
    }
}

fn attrs(e: &BytesStart) -> Result<Vec<(String, String)>> {
    e.attributes()
        .map(|a| {
            let a = a.context("bad XML attribute in the CIB")?;
            Ok((
                String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                a.unescape_value()
                    .context("bad XML attribute value in the CIB")?
                    .into_owned(),
            ))
        })
        .collect()
}

fn find<'a>(a: &'a [(String, String)], k: &str) -> Option<&'a str> {
    a.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
}

fn get(a: &[(String, String)], k: &str) -> String {
    find(a, k).unwrap_or("").to_owned()
}

/// `s` escaped for an XML attribute value.
pub fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `cibadmin -Q` of a two-node DRBD cluster (Pacemaker 2.1.5), trimmed, with a fence
    /// constraint as crm-fence-peer.9.sh places it and the peer shot.
    const CIB: &str = r##"<cib crm_feature_set="3.16.2" validate-with="pacemaker-3.9" epoch="42" num_updates="7" admin_epoch="0" have-quorum="1" dc-uuid="1">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="o1" name="stonith-enabled" value="true"/>
        <nvpair id="o2" name="startup_fencing" value="false"/>
      </cluster_property_set>
    </crm_config>
    <nodes>
      <node id="1" uname="alpha">
        <instance_attributes id="n1"><nvpair id="n1-site" name="site" value="left"/></instance_attributes>
      </node>
      <node id="2" uname="beta"/>
      <node id="3" uname="quorum-ping" type="ping"/>
    </nodes>
    <resources>
      <primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2"/>
      <master id="ms_r1">
        <primitive id="p_r1" class="ocf" provider="linbit" type="drbd">
          <instance_attributes id="p_r1-ia"><nvpair id="p_r1-res" name="drbd_resource" value="r1"/></instance_attributes>
        </primitive>
      </master>
      <clone id="drbd_r0-clone">
        <meta_attributes id="m"><nvpair id="m1" name="promotable" value="true"/></meta_attributes>
        <primitive id="drbd_r0" class="ocf" provider="ferro" type="drbd">
          <instance_attributes id="drbd_r0-ia"><nvpair id="drbd_r0-res" name="drbd_resource" value="r0"/></instance_attributes>
        </primitive>
      </clone>
    </resources>
    <constraints>
      <rsc_location rsc="drbd_r0-clone" id="drbd-fence-by-handler-r0-drbd_r0-clone">
        <rule role="Master" score="-INFINITY" id="drbd-fence-by-handler-r0-rule-drbd_r0-clone">
          <expression attribute="#uname" operation="ne" value="alpha" id="drbd-fence-by-handler-r0-expr-0-drbd_r0-clone"/>
        </rule>
      </rsc_location>
      <rsc_location id="odd" rsc="vip">
        <rule id="odd-r" score="-INFINITY"><date_expression id="d" operation="in_range" start="2020-01-01"/></rule>
      </rsc_location>
    </constraints>
  </configuration>
  <status>
    <node_state id="1" uname="alpha" in_ccm="true" crmd="online" crm-debug-origin="do_state_transition" join="member" expected="member"/>
    <node_state id="2" uname="beta" in_ccm="false" crmd="offline" crm-debug-origin="send_stonith_update" join="down" expected="down"/>
  </status>
</cib>"##;

    #[test]
    fn reads_what_the_handler_needs() {
        let cib = Cib::parse(CIB).unwrap();
        assert!(cib.have_quorum());
        assert_eq!(cib.header_attr("epoch"), Some("42"));
        assert_eq!(cib.property("stonith-enabled"), Some("true"));
        assert_eq!(cib.property("startup-fencing"), Some("false"));
        assert_eq!(cib.drbd_clone("r0"), Some("drbd_r0-clone"));
        assert_eq!(cib.drbd_clone("r1"), Some("ms_r1"));
        assert_eq!(cib.drbd_clone("r9"), None);
        assert_eq!(cib.nodes.len(), 3);
        assert_eq!(cib.nodes[2].kind, "ping");
        assert_eq!(cib.node_attr("alpha", "site").as_deref(), Some("left"));
        assert_eq!(cib.node_attr("beta", "site"), None);
        let beta = cib.node_state("beta").unwrap();
        assert_eq!(beta.in_ccm(), Some(false));
        assert!(!beta.crmd_online());
        assert_eq!(beta.expected.as_deref(), Some("down"));
        assert!(cib.node_state("alpha").unwrap().crmd_online());
        let loc = cib
            .location("drbd-fence-by-handler-r0-drbd_r0-clone")
            .unwrap();
        assert_eq!(loc.rules[0].role, "Master");
        assert_eq!(
            loc.rules[0].expressions,
            [Expression {
                id: "drbd-fence-by-handler-r0-expr-0-drbd_r0-clone".into(),
                attribute: "#uname".into(),
                operation: "ne".into(),
                value: "alpha".into()
            }]
        );
        assert!(cib.location("odd").unwrap().rules[0].other);
    }

    #[test]
    fn a_fence_constraint_bans_every_node_but_the_one_it_names() {
        let cib = Cib::parse(CIB).unwrap();
        let loc = cib
            .location("drbd-fence-by-handler-r0-drbd_r0-clone")
            .unwrap();
        assert!(cib.bans(loc, "drbd_r0-clone", "beta"));
        assert!(cib.bans(loc, "drbd_r0-clone", "BETA"));
        assert!(!cib.bans(loc, "drbd_r0-clone", "alpha"));
        assert!(!cib.bans(loc, "other", "beta"));
        // A rule not made of plain expressions is not judged here.
        assert!(!cib.bans(cib.location("odd").unwrap(), "vip", "beta"));
    }

    #[test]
    fn timestamps_of_newer_pacemaker_mean_online() {
        // Pacemaker 2.1.7: in_ccm and crmd hold the time of the last change when up.
        let s = NodeState {
            in_ccm: Some("1700000000".into()),
            crmd: Some("1700000001".into()),
            ..NodeState::default()
        };
        assert_eq!(s.in_ccm(), Some(true));
        assert!(s.crmd_online());
        let s = NodeState {
            in_ccm: Some("false".into()),
            crmd: Some("0".into()),
            ..NodeState::default()
        };
        assert_eq!(s.in_ccm(), Some(false));
        assert!(!s.crmd_online());
    }

    #[test]
    fn not_a_cib() {
        assert!(Cib::parse("<x/>").is_err());
        assert!(Cib::parse("<cib><unclosed></cib>").is_err());
    }
}
