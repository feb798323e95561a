//! Paxos Commit, message by message, with the scripted driver.
