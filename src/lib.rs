//! MyElectricalData → MQTT for Home Assistant.
//!
//! A Home Assistant add-on that fetches a household's Linky data from the MyElectricalData
//! gateway, keeps it in a local SQLite store and publishes it to MQTT with Home Assistant
//! discovery. The binary (`src/main.rs`) only parses the command line and calls [`app`].
//!
//! # Layout
//!
//! Data flows one way: gateway → store → derived values → entities → MQTT. Each job loads a
//! snapshot, decides in a pure function (time is a parameter), then acts in a short loop.
//! A module uses only the ones listed above it (`tests/architecture.rs` checks it).
//!
//! | module | job |
//! |---|---|
//! | [`model`] | the ground floor: the types every layer speaks (PDL, secrets, tariffs, energy days and curve intervals, Tempo, EcoWatt, broker addresses, MQTT messages) |
//! | [`clock`], [`retry`] | the injected time source; the one retry policy (capped exponential backoff with jitter, pure) |
//! | [`calendar`] | pure Europe/Paris date and time functions (DST, weeks, months, off-peak ranges) |
//! | [`tariffs`] | pure tariff rules: HC/HP and Tempo periods, prices in force and when they change, the Tempo season |
//! | [`config`] | figment layers (defaults < options file < environment < flags), raw options validated into [`config::Settings`] |
//! | [`http`], [`supervisor`] | the reqwest settings the HTTP clients share; where the Supervisor says the broker is |
//! | [`gateway`] | MyElectricalData clients (v1, v2; built-in sample data for `demo`) and the Enedis and RTE payloads they parse into the model |
//! | [`store`] | SQLite through sqlx: migrations, WAL, one writer, rows read and each answer written in one transaction |
//! | [`sync`] | gateway → store: `SyncState::load` → `plan_refresh`/`plan` (pure: ranges, staleness, what to retry) → `Executor` (quota, retries, writes) |
//! | [`derived`] | store → values: `MeterInputs::load` → `MeterView::compute` (pure), likewise Tempo and EcoWatt; when something shown changes next |
//! | [`entities`] | values → messages: the Home Assistant entity catalog (tables of entities and state topics per device) |
//! | [`mqtt`] | messages → broker: the session (one task polls rumqttc, one keeps everything published), typed connection errors |
//! | [`scheduler`] | when to sync next (pure, with jitter) |
//! | [`pipeline`] | the parts every command shares, and the jobs on them: sync, publication, MQTT session |
//! | [`app`] | the commands `run`, `once`, `check`; [`demo`] runs the pipeline on sample data |

pub mod app;
pub mod calendar;
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
pub mod store;
pub mod supervisor;
pub mod sync;
pub mod tariffs;
