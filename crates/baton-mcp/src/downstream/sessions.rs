//! Open MCP sessions over HTTP, counted (for `baton_sessions_open`) and capped:
//! `serve.sessions.max` (all callers together), `serve.sessions.per_client` (per client
//! address) and `serve.auth.limits.sessions` (per principal).
//!
//! A session holds a [`SessionSlot`] for as long as it lives; dropping the slot frees it.
//! Legacy SSE takes its slot when `GET /sse` opens the stream. Streamable HTTP takes one
//! when an `initialize` arrives without a session id, and hands it to the session manager
//! ([`super::parking::Parking::adopt`]) once the answer names the new session (parked or
//! not, the session keeps it until it ends); a request that creates no session drops it.
//! Stateless (2026-07-28) requests open no session and take no slot.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
};

/// The open sessions, counted.
#[derive(Debug)]
pub struct Sessions {
    max: Option<u32>,
    per_principal: Option<u32>,
    per_address: Option<u32>,
    open: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    all: u32,
    /// Open sessions by transport: streamable HTTP, legacy SSE.
    by_transport: [u32; 2],
    by_principal: HashMap<String, u32>,
    by_address: HashMap<IpAddr, u32>,
}

/// The transport a session uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    StreamableHttp = 0,
    Sse = 1,
}

/// Why a session was refused: the message a client gets (names the setting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// One open session's place; freed when dropped.
#[derive(Debug)]
pub struct SessionSlot {
    sessions: Arc<Sessions>,
    principal: Option<String>,
    address: Option<IpAddr>,
    transport: Transport,
}

impl Sessions {
    pub fn new(
        max: Option<u32>,
        per_principal: Option<u32>,
        per_address: Option<u32>,
    ) -> Arc<Sessions> {
        Arc::new(Sessions {
            max,
            per_principal,
            per_address,
            open: Mutex::new(Counts::default()),
        })
    }

    /// A slot for a new session of `principal` from `address` over `transport`, or why not.
    pub fn admit(
        self: &Arc<Self>,
        principal: Option<&str>,
        address: Option<IpAddr>,
        transport: Transport,
    ) -> Result<SessionSlot, Refused> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(max) = self.max
            && open.all >= max
        {
            return Err(Refused(format!(
                "Baton holds {max} open sessions, its limit (serve.sessions.max): close a session or retry later"
            )));
        }
        if let (Some(cap), Some(name)) = (self.per_principal, principal) {
            let held = open.by_principal.get(name).copied().unwrap_or(0);
            if held >= cap {
                return Err(Refused(format!(
                    "{name} holds {held} open sessions, its limit (serve.auth.limits.sessions): close one (DELETE it) or retry later"
                )));
            }
        }
        if let (Some(cap), Some(address)) = (self.per_address, address) {
            let held = open.by_address.get(&address).copied().unwrap_or(0);
            if held >= cap {
                return Err(Refused(format!(
                    "{address} holds {held} open sessions, the limit per client address (serve.sessions.per_client): close one (DELETE it) or retry later"
                )));
            }
        }
        open.all += 1;
        open.by_transport[transport as usize] += 1;
        if let Some(name) = principal {
            *open.by_principal.entry(name.to_owned()).or_default() += 1;
        }
        if let Some(address) = address {
            *open.by_address.entry(address).or_default() += 1;
        }
        Ok(SessionSlot {
            sessions: self.clone(),
            principal: principal.map(str::to_owned),
            address,
            transport,
        })
    }

    /// Sessions open now by transport: (streamable HTTP, SSE).
    pub fn by_transport(&self) -> (u32, u32) {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        (open.by_transport[0], open.by_transport[1])
    }

    /// Sessions open now: (all, held by `principal`).
    pub fn open(&self, principal: &str) -> (u32, u32) {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        (
            open.all,
            open.by_principal.get(principal).copied().unwrap_or(0),
        )
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut open = self.sessions.open.lock().unwrap_or_else(|p| p.into_inner());
        open.all = open.all.saturating_sub(1);
        let by_transport = &mut open.by_transport[self.transport as usize];
        *by_transport = by_transport.saturating_sub(1);
        if let Some(name) = &self.principal
            && let Some(held) = open.by_principal.get_mut(name)
        {
            *held = held.saturating_sub(1);
            if *held == 0 {
                open.by_principal.remove(name);
            }
        }
        if let Some(address) = &self.address
            && let Some(held) = open.by_address.get_mut(address)
        {
            *held = held.saturating_sub(1);
            if *held == 0 {
                open.by_address.remove(address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Sessions {
        fn admit_test(self: &Arc<Self>, principal: Option<&str>) -> Result<SessionSlot, Refused> {
            self.admit(principal, None, Transport::StreamableHttp)
        }
    }

    #[test]
    fn the_global_cap_and_the_per_principal_cap_free_on_drop() {
        let sessions = Sessions::new(Some(3), Some(2), None);
        let a1 = sessions.admit_test(Some("alice")).unwrap();
        let a2 = sessions.admit_test(Some("alice")).unwrap();
        let refused = sessions.admit_test(Some("alice")).unwrap_err();
        assert!(
            refused.0.contains("serve.auth.limits.sessions"),
            "{refused:?}"
        );
        let b1 = sessions.admit_test(Some("bob")).unwrap();
        let refused = sessions.admit_test(Some("carol")).unwrap_err();
        assert!(refused.0.contains("serve.sessions.max"), "{refused:?}");
        assert_eq!(sessions.open("alice"), (3, 2));
        drop(a1);
        assert_eq!(sessions.open("alice"), (2, 1));
        let a3 = sessions.admit_test(Some("alice")).unwrap();
        drop((a2, a3, b1));
        assert_eq!(sessions.open("alice"), (0, 0));
        assert!(sessions.open.lock().unwrap().by_principal.is_empty());
    }

    #[test]
    fn the_per_address_cap_counts_each_address_alone() {
        let sessions = Sessions::new(None, None, Some(1));
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = sessions
            .admit(None, Some(a), Transport::StreamableHttp)
            .unwrap();
        let refused = sessions.admit(None, Some(a), Transport::Sse).unwrap_err();
        assert!(
            refused.0.contains("serve.sessions.per_client"),
            "{refused:?}"
        );
        let other = sessions
            .admit(None, Some(b), Transport::StreamableHttp)
            .unwrap();
        drop(first);
        let again = sessions
            .admit(None, Some(a), Transport::StreamableHttp)
            .unwrap();
        drop((other, again));
        assert!(sessions.open.lock().unwrap().by_address.is_empty());
    }
}
