import { expect } from "vitest";
import { LibvirtError } from "../../src/events/libvirt-error.js";

/** Awaits an operation that must fail with a typed LibvirtError, and returns the error. */
export async function failure(p: Promise<unknown>): Promise<LibvirtError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(LibvirtError);
    return err as LibvirtError;
  }
  throw new Error("expected a LibvirtError");
}
