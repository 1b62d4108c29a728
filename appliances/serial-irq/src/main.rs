//! Waits for a byte on COM1 by interrupt: the UART's receive interrupt (ISA IRQ 4) routed
//! through the IOAPIC to a vector whose handler marks an event, which this task awaits. The
//! end-to-end test writes the byte only after "waiting" is printed, so only the interrupt can
//! wake the task. x86_64 only (it drives COM1 itself).
#![no_std]
#![no_main]

use morgana::prelude::*;

#[cfg(all(target_os = "none", target_arch = "x86_64"))]
#[morgana::main]
async fn main(_env: Env) -> i32 {
    use morgana::event::Event;
    use morgana_boot::arch::x86_64::{irq, serial};

    let Some(id) = irq::route_gsi(
        4,
        irq::Trigger {
            level: false,
            active_low: false,
        },
    ) else {
        println!("cannot route IRQ 4: no IOAPIC or no free vector");
        return 1;
    };
    let mut event = Event::new(id);
    while serial::try_read().is_some() {} // nothing before "waiting" counts
    serial::set_rx_interrupt(true);
    println!("waiting for a byte on COM1 (IRQ 4, IOAPIC)");
    let mut wakes = 0;
    // Wait first, read after: the event counts firings since it was made (before the interrupt
    // was enabled), so a byte that arrives while "waiting" is still being printed is seen by
    // the first wait, and a read that finds the byte is always preceded by an interrupt.
    let got = timeout(Duration::from_secs(30), async {
        loop {
            event.wait().await;
            wakes += 1;
            if let Some(b) = serial::try_read() {
                return b;
            }
        }
    })
    .await;
    serial::set_rx_interrupt(false);
    match got {
        Ok(b) => {
            println!("got {:?} after {wakes} interrupt wake(s)", b as char);
            if wakes > 0 { 0 } else { 4 }
        }
        Err(_) => {
            println!("no interrupt within 30 s");
            3
        }
    }
}

#[cfg(not(all(target_os = "none", target_arch = "x86_64")))]
#[morgana::main]
async fn main(_env: Env) -> i32 {
    println!("serial-irq drives COM1 itself: it runs on x86_64 images only");
    2
}
