//! MyElectricalData → MQTT for Home Assistant.
//!
//! A Home Assistant add-on that fetches a household's Linky data from the MyElectricalData
//! gateway, keeps it in a local SQLite store and publishes it to MQTT with Home Assistant
//! discovery. The binary (`src/main.rs`) only parses the command line and calls [`app`].
//!
//! # Layout
//!
//! Data flows one way: gateway → store → derived values → entities → MQTT. Each job loads a
//! snapshot of the store, decides in a pure function (time is a parameter), then acts in a
//! short loop. A module uses only those above it in this table (`tests/architecture.rs`
//! checks it, with no circle between the files of a module and no function over a screen).
//!
//! | module | job | where to look |
//! |---|---|---|
//! | [`model`] | the ground floor: the types every layer speaks | PDL, tariffs, prices and off-peak ranges `model/meter.rs`; energy days and curve intervals `model/energy.rs`; Tempo, EcoWatt `model/grid.rs`; broker URLs `model/broker.rs`; MQTT messages `model/message.rs`; secrets that never print `model/secret.rs`; outside text quoted on one short line `model/text.rs` |
//! | [`clock`], [`retry`] | the injected time; the one retry policy (capped exponential backoff with jitter, pure) | gateway retries `sync::GATEWAY_RETRY`, reconnections `mqtt::RECONNECT`, failed syncs `scheduler::FAILURE_BACKOFF` |
//! | [`calendar`] | pure Europe/Paris dates and times | DST, ISO weeks, months, the 36-month history, off-peak text |
//! | [`tariffs`] | pure tariff rules | HC/HP and Tempo periods, prices in force and when they change, the Tempo season and 10:40 |
//! | [`config`] | options → settings | figment layers `config/mod.rs`; raw keys `config/raw.rs`; validation, one line per problem `config/validate.rs`; settings `config/settings.rs` |
//! | [`translations`] | the program's own strings (entity and statistic names) from `translations/{fr,en}.json` | |
//! | [`http`], [`supervisor`] | HTTP client settings; the broker the Supervisor gives | |
//! | [`gateway`] | MyElectricalData clients | v1 `gateway/v1.rs`, v2 `gateway/v2.rs` (each route's answer parsed from status and body, without HTTP), Enedis payloads `gateway/enedis.rs`, RTE/EDF payloads `gateway/grid.rs`, what an answer may bring in (plausible values, asked days, one log line per answer) `gateway/admit.rs`, HTTP (bodies capped) and errors `gateway/wire.rs`, `gateway/error.rs`, demo data `gateway/sample.rs` |
//! | [`store`] | SQLite through sqlx: migrations, WAL, one writer | one answer per transaction `store/mod.rs`; Linky rows `store/series.rs`; Tempo/EcoWatt rows `store/grid.rs`; status, quota counters, configured meters `store/status.rs` |
//! | [`sync`] | gateway → store: load → plan → execute | snapshot `sync/state.rs`; what to ask, in steps (pure) `sync/plan.rs`; quota (pure) `sync/quota.rs`; calls, retries, writes `sync/execute.rs`; the job and its summary `sync/mod.rs` |
//! | [`derived`] | store → values: inputs → views (pure) | a meter `derived/meter.rs`; its last 30 days and 24 months (the web page's charts) `derived/history.rs`; costs `derived/costs.rs`; Tempo and EcoWatt `derived/grid.rs`; all devices and the next change `derived/mod.rs` |
//! | [`statistics`] | store → Home Assistant's long-term statistics | days and shapes, rows, sums, whole-day messages `statistics/rows.rs`; costs `statistics/cost.rs`; ids, names, metadata by release `statistics/metadata.rs`; the websocket `statistics/client.rs`; a meter's import `statistics/job.rs` |
//! | [`entities`] | values → messages: the Home Assistant entity catalog | discovery configs and states `entities/mod.rs`; meter tables `entities/meter.rs`; Tempo and EcoWatt tables `entities/grid.rs` |
//! | [`mqtt`] | messages → broker | what stays published and what the broker acknowledged `mqtt/session.rs`; the polling task and the reconnection backoff `mqtt/driver.rs`; options, TLS, the 64 KiB message limit, connection errors, undelivered messages `mqtt/connect.rs` |
//! | [`scheduler`] | when to sync next (pure, with jitter) | |
//! | [`pipeline`] | the parts every command shares and the jobs on them: sync, publication, session | |
//! | [`check`] | `check` and the page's test button: config, broker, gateway, Home Assistant, one line each | |
//! | [`web`] | the add-on's web page: status, the test button, charts | routes, limits, the server `web/mod.rs`; what handlers share, the drawn history kept while the store does not change `web/state.rs`; the page and its status cards `web/page.rs`; a meter's charts `web/drawn.rs`; SVG bars, Tempo calendar, EcoWatt hours (pure) `web/charts.rs`; French and English words `web/words.rs`; the listener that answers the ingress proxy alone `web/listener.rs`; style and script `web/page.css`, `web/page.js` |
//! | [`app`], [`demo`] | the commands `run`, `once`, `check`; `demo` on sample data | |

pub mod app;
pub mod calendar;
pub mod check;
pub mod clock;
pub mod config;
pub mod demo;
pub mod derived;
pub mod entities;
pub mod gateway;
pub mod http;
pub mod model;
pub mod mqtt;
pub mod pipeline;
pub mod retry;
pub mod scheduler;
pub mod statistics;
pub mod store;
pub mod supervisor;
pub mod sync;
pub mod tariffs;
pub mod translations;
pub mod web;
