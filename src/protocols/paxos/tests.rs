//! Paxos's nodes, message by message, with the scripted driver.
