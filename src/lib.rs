//! MyElectricalData → MQTT for Home Assistant.
pub mod calendar;
pub mod config;
pub mod gateway;
pub mod mqtt;
pub mod store;
