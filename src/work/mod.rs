//! A worker: claims tasks of a planDir one at a time, renders them and publishes them, and tells
//! observers what happens.

pub mod environment;
pub mod events;
pub mod render;
pub mod scheduler;
