// Replaced by the CLI dispatcher (inspect, match, plan, share, expand, eval, sweep, postshare, demo).
console.error("headshare: no commands yet");
process.exit(1);
