/**
 * Installing the system packages research needs, from the CLI: `spore run` asks once (y/N) on a
 * terminal, `spore doctor --fix` installs without asking. Both fall back to printing the exact
 * command when this process may not install (not root, no passwordless sudo, no apt-get).
 * @module
 */
import {
  installCommand,
  installPackages,
  installRight,
  missingPackages,
  type PackageProbe,
  packagesFor,
  systemProbe,
} from "../ops/system_packages.ts";
import { style } from "./output.ts";

/** Effects of {@link offerResearchPackages}, injected for tests. */
export interface PackageOffer {
  print: (line: string) => void;
  /** Ask a yes/no question; absent: install without asking (`doctor --fix`). */
  ask?: (question: string) => boolean;
  probe?: PackageProbe;
  right?: typeof installRight;
  install?: typeof installPackages;
}

/** What happened: nothing missing, installed, declined, or the command to run by hand. */
export type OfferOutcome = "complete" | "installed" | "declined" | "manual" | "failed";

/**
 * Find the research packages that are missing and offer to install them. Never throws for a
 * missing package: the caller goes on (the node falls back to sync-only and says why).
 */
export async function offerResearchPackages(
  offer: PackageOffer,
  python?: string,
): Promise<OfferOutcome> {
  const probe = offer.probe ?? systemProbe({ python });
  const missing = await missingPackages(packagesFor("research"), probe);
  if (missing.length === 0) return "complete";
  const names = missing.map((p) => p.name);
  offer.print(
    style(
      "yellow",
      `missing for research: ${missing.map((p) => `${p.name} (${p.why})`).join(", ")}`,
    ),
  );
  const right = await (offer.right ?? installRight)();
  if (right === "none") {
    offer.print(`  install with: ${installCommand(names)}`);
    return "manual";
  }
  if (offer.ask && !offer.ask(`Install ${names.join(" ")} now with apt-get?`)) {
    offer.print(`  not installed; to install later: ${installCommand(names)}`);
    return "declined";
  }
  offer.print(`installing: ${installCommand(names, right)}`);
  const failure = await (offer.install ?? installPackages)(names, right);
  if (failure !== null) {
    offer.print(style("yellow", `install failed (${failure}); run: ${installCommand(names)}`));
    return "failed";
  }
  const still = await missingPackages(missing, probe);
  if (still.length > 0) {
    offer.print(style("yellow", `still missing: ${still.map((p) => p.name).join(", ")}`));
    return "failed";
  }
  offer.print(style("green", `installed ${names.join(" ")}`));
  return "installed";
}

/** A y/N question on the terminal (default no). */
export function askYesNo(question: string): boolean {
  const answer = prompt(`${question} [y/N]`)?.trim().toLowerCase();
  return answer === "y" || answer === "yes";
}
