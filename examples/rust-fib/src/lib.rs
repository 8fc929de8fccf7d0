//! Plain scalar exports, the shape many existing wasm modules already have: each
//! function takes and returns numbers and is called by name
//! (`bridge.runtime.scalar.ScalarModule`). No bridge ABI, no imports on
//! wasm32-unknown-unknown.
//!
//! ```sh
//! PATH=/usr/bin:$PATH cargo build --offline --release --target wasm32-unknown-unknown
//! ```

/// The `n`th Fibonacci number (`fib(0) = 0`, `fib(1) = 1`), wrapping past `fib(93)`,
/// the largest that fits in a u64. wasm has no unsigned types: the host sees an i64.
#[no_mangle]
pub extern "C" fn calculate_fibonacci(n: u32) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        let next = a.wrapping_add(b);
        a = b;
        b = next;
    }
    a
}

#[no_mangle]
pub extern "C" fn add_f64(a: f64, b: f64) -> f64 {
    a + b
}

/// `a / b`, rounded toward zero. Dividing by zero panics, which traps: an example
/// of a guest failure the host must survive.
#[no_mangle]
pub extern "C" fn divide(a: i32, b: i32) -> i32 {
    if b == 0 {
        panic!("divide: division by zero");
    }
    // i32::MIN / -1 overflows; wrapping keeps that one case from panicking too.
    a.wrapping_div(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fibonacci() {
        let first: Vec<u64> = (0..10).map(|n| calculate_fibonacci(n)).collect();
        assert_eq!(first, [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]);
        assert_eq!(calculate_fibonacci(90), 2_880_067_194_370_816_120);
        assert_eq!(calculate_fibonacci(93), 12_200_160_415_121_876_738);
    }

    #[test]
    fn arithmetic() {
        assert_eq!(add_f64(0.5, 0.25), 0.75);
        assert_eq!(divide(7, -2), -3);
        assert_eq!(divide(i32::MIN, -1), i32::MIN);
    }

    #[test]
    #[should_panic(expected = "division by zero")]
    fn divide_by_zero_panics() {
        divide(1, 0);
    }
}
