package main

// answer is what Answer and Hold reply: the sidecar tests build a second variant of
// this guest with another answer, to see which build a call reached.
const answer = "one"
