import type { Metadata } from "next";
import type { ReactNode } from "react";
import { GatehouseProvider } from "@/components/gatehouse";
import { Header } from "@/components/header";
import { readConfig } from "@/lib/config";
import "./globals.css";

// The settings are read per request, never baked in at build time.
export const dynamic = "force-dynamic";

export const metadata: Metadata = { title: "Gatehouse Todo" };

export default function RootLayout({ children }: { children: ReactNode }) {
  const config = readConfig();
  // Where the browser reaches Better Auth: this app, or the gateway in session mode.
  const authURL = config.mode === "session" ? config.gatewayURL : (process.env.BETTER_AUTH_URL ?? "").replace(/\/+$/, "");
  return (
    <html lang="en">
      <body>
        <GatehouseProvider config={config} authURL={authURL}>
          <Header />
          <main>{children}</main>
        </GatehouseProvider>
      </body>
    </html>
  );
}
