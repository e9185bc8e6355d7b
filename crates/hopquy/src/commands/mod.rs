pub mod demo;
pub mod evidence;
pub mod info;
pub mod probe;
pub mod run;
pub mod sim;
pub mod simbench;
