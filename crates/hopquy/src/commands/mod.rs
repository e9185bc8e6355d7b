pub mod demo;
pub mod evidence;
pub mod info;
pub mod plan;
pub mod probe;
pub mod run;
pub mod sim;
pub mod simbench;
