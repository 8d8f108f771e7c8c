//! MyElectricalData → MQTT for Home Assistant.
//!
//! A Home Assistant add-on that fetches a household's Linky data from the MyElectricalData
//! gateway, keeps it in a local SQLite store and publishes it to MQTT with Home Assistant
//! discovery. The binary (`src/main.rs`) only parses the command line and calls [`app`].
//!
//! # Layout
//!
//! Data flows one way: gateway → store → derived values → entities → MQTT.
//!
//! | module | job |
//! |---|---|
//! | [`config`] | figment layers (defaults < options file < environment < flags), raw options validated into [`config::Settings`]; secrets that never print |
//! | [`http`] | the reqwest client settings and error wording the HTTP clients share |
//! | [`supervisor`] | asks the Home Assistant Supervisor where the MQTT broker is |
//! | [`gateway`] | MyElectricalData clients (v1, v2; built-in sample data for `demo`), the Enedis and RTE payloads they share, the common model |
//! | [`store`] | SQLite through sqlx: migrations, WAL, one writer, one transaction per answer |
//! | [`sync`] | plans the fewest gateway calls that cover what the store lacks, counts them against the quota, retries, runs them |
//! | [`calendar`] | pure Europe/Paris date and time functions (DST, month starts, off-peak ranges) |
//! | [`tariffs`] | pure tariff rules: HC/HP and Tempo periods, prices in force and when they change, the Tempo season |
//! | [`derived`] | values the entities show (periods to date, HC/HP split, costs, status, Tempo, EcoWatt), from the store |
//! | [`entities`] | the Home Assistant entity catalog (meters, Tempo, EcoWatt): tables → discovery configs and state payloads |
//! | [`mqtt`] | broker addresses and the session: one task polls rumqttc, one keeps everything published |
//! | [`scheduler`] | when to sync next (pure, with jitter); [`clock`] injects the time |
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
pub mod mqtt;
pub mod scheduler;
pub mod store;
pub mod supervisor;
pub mod sync;
pub mod tariffs;
