//! MyElectricalData → MQTT for Home Assistant.
pub mod app;
pub mod calendar;
pub mod clock;
pub mod config;
pub mod demo;
pub mod derived;
pub mod entities;
pub mod gateway;
pub mod mqtt;
pub mod scheduler;
pub mod store;
pub mod supervisor;
pub mod sync;
