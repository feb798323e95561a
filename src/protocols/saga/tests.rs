//! The saga protocol's nodes, message by message, with the scripted driver.
