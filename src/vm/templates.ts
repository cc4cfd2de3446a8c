import { existsSync, readdirSync } from "node:fs";
import { MAX_DOCUMENT_BYTES, readTextCapped } from "../events/input.js";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { readYamlData } from "../events/yaml.js";
import { z } from "zod";
import { LibvirtError } from "../events/libvirt-error.js";

// VM templates: YAML files describing how to build a new VM. Three kinds — a kernel + initrd
// boot, a cloud image with a cloud-init seed, an installer ISO. `hv vm create --template NAME`
// looks for NAME.yaml in $HV_TEMPLATE_DIR, ~/.config/hv/templates/vm, /etc/hv/templates/vm and
// the shipped templates/vm, in that order; a value with a `/` or ending in .yaml is a path.

const size = z.union([z.string(), z.number()]).transform(String);

const common = {
  description: z.string().optional(),
  memory: size.default("512M"),
  vcpus: z.number().int().min(1).default(1),
  /** qemu (TCG), kvm, or auto (kvm when /dev/kvm exists). */
  domainType: z.enum(["qemu", "kvm", "auto"]).default("auto"),
  machine: z.string().optional(),
  arch: z.string().default("x86_64"),
  /** A libvirt network name; null for no NIC. */
  network: z.string().nullable().default("default"),
  bridge: z.string().optional(),
  nicModel: z.string().default("virtio"),
  /** Storage pool for disks and seeds hv creates. */
  pool: z.string().default("default"),
  diskSize: size.optional(),
  /** Copy of the serial console; `{name}` becomes the VM name. */
  serialLog: z.string().optional(),
  graphics: z.enum(["none", "vnc", "spice"]).default("none"),
};

export const templateSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("kernel"), kernel: z.string(), initrd: z.string().optional(), cmdline: z.string().default("console=ttyS0"), ...common }).strict(),
  z
    .object({
      kind: z.literal("cloud-image"),
      /** The base image; the VM's disk is a qcow2 overlay on it (the base stays untouched). */
      image: z.string(),
      imageFormat: z.string().default("qcow2"),
      cloudInit: z
        .object({
          user: z.string().default("hv"),
          sshAuthorizedKeys: z.array(z.string()).default([]),
          packages: z.array(z.string()).default([]),
          /** A complete user-data document instead of the fields above. */
          userData: z.string().optional(),
        })
        .strict()
        .default({ user: "hv", sshAuthorizedKeys: [], packages: [] }),
      ...common,
    })
    .strict(),
  z.object({ kind: z.literal("iso-install"), iso: z.string(), ...common }).strict(),
]);

export type VmTemplate = z.infer<typeof templateSchema>;

export function templateDirs(): string[] {
  const dirs: string[] = [];
  if (process.env.HV_TEMPLATE_DIR) dirs.push(process.env.HV_TEMPLATE_DIR);
  dirs.push(join(process.env.XDG_CONFIG_HOME ?? join(homedir(), ".config"), "hv", "templates", "vm"));
  dirs.push("/etc/hv/templates/vm");
  const shipped = shippedTemplateDir();
  if (shipped) dirs.push(shipped);
  return dirs;
}

/** templates/vm of the hv package (found from this file: src/vm or dist/src/vm). */
export function shippedTemplateDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, "package.json"))) return join(dir, "templates", "vm");
    dir = dirname(dir);
  }
  return undefined;
}

export function resolveTemplatePath(nameOrPath: string): string {
  if (nameOrPath.includes("/") || /\.ya?ml$/.test(nameOrPath)) {
    if (!existsSync(nameOrPath)) throw new LibvirtError("not-found", `template file ${nameOrPath} does not exist`);
    return nameOrPath;
  }
  if (!/^[A-Za-z0-9_.-]+$/.test(nameOrPath)) throw new LibvirtError("invalid-argument", `template name ${JSON.stringify(nameOrPath)} may only contain letters, digits, _ . -`);
  for (const dir of templateDirs()) {
    const p = join(dir, `${nameOrPath}.yaml`);
    if (existsSync(p)) return p;
  }
  throw new LibvirtError("not-found", `no template ${nameOrPath} (looked in ${templateDirs().join(", ")}); known: ${listTemplates().map((t) => t.name).join(", ") || "none"}`);
}

export function loadTemplate(nameOrPath: string): VmTemplate & { path: string } {
  const path = resolveTemplatePath(nameOrPath);
  return { ...parseTemplate(readTextCapped(path, MAX_DOCUMENT_BYTES, path), path), path };
}

export function parseTemplate(text: string, where = "template"): VmTemplate {
  const yaml = readYamlData(text);
  if ("problem" in yaml) throw new LibvirtError("invalid-argument", `${where}: not valid YAML: line ${yaml.problem.line}: ${yaml.problem.reason}`);
  const r = templateSchema.safeParse(yaml.data);
  if (!r.success) throw new LibvirtError("invalid-argument", `${where}: ${r.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ")}`);
  return r.data;
}

/** Every template found, first one of each name wins (the search order above). */
export function listTemplates(): { name: string; path: string }[] {
  const seen = new Map<string, string>();
  for (const dir of templateDirs()) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) {
      const m = /^(.+)\.yaml$/.exec(f);
      if (m && !seen.has(m[1]!)) seen.set(m[1]!, join(dir, f));
    }
  }
  return [...seen].map(([name, path]) => ({ name, path }));
}
