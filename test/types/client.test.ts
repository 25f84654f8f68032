/**
 * `unplugin-ai-image/client` as a user's TypeScript sees it: a temp project with the package linked into
 * node_modules (so the `./client` export is what resolves), an app that imports a spec file and virtual
 * images and uses their exports, and `tsc`. Wrong uses are marked `@ts-expect-error`, so declarations that
 * are missing, `any` or mistyped all fail the check.
 */
import { execFile } from 'node:child_process'
import { mkdir, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { makeProject, spec, type TempProject } from '../helpers/project.js'

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const TSC = path.join(REPO, 'node_modules/typescript/bin/tsc')

const APP = `import hero, { width, height, alt, srcset, placeholder, images, key } from './hero.imgprompt.json'
import fox, * as foxModule from 'virtual:ai-image?prompt=a%20red%20fox&size=1024x1024'
import logo, { width as logoWidth } from 'virtual:ai-image/logo'

export const img: { src: string; width: number; height: number; alt: string; srcset: string } = { src: hero, width, height, alt, srcset }
export const ratio: number = width / height + logoWidth
export const sources: string[] = srcset.split(', ').concat(fox, logo, foxModule.srcset)
export const preview: string | undefined = placeholder
export const candidates: ReadonlyArray<{ src: string; width: number; height: number }> = images
export const cacheKey: string = key

// Wrong uses must not type-check.
// @ts-expect-error width is a number
export const wrongWidth: string = width
// @ts-expect-error srcset is a string
export const wrongSrcset: number = srcset
// @ts-expect-error the default export is a URL string
export const wrongSrc: number = hero
// @ts-expect-error placeholder may be undefined
export const wrongPlaceholder: string = placeholder
// @ts-expect-error candidates are read-only
images.push({ src: '', width: 0, height: 0 })
// @ts-expect-error no such export
export const missing = foxModule.url
`

const projects: TempProject[] = []
afterAll(() => Promise.all(projects.map((p) => p.remove())))

/** A project whose `node_modules/unplugin-ai-image` is `packageDir`. */
async function project(packageDir: string, compilerOptions: Record<string, unknown>, files: Record<string, string> = {}): Promise<TempProject> {
  const created = await makeProject({
    ...files,
    'src/app.ts': APP,
    'src/hero.imgprompt.json': spec({ prompt: 'a lighthouse' }),
    'tsconfig.json': JSON.stringify({
      compilerOptions: { strict: true, target: 'ES2022', lib: ['ES2022'], module: 'ESNext', moduleResolution: 'bundler', noEmit: true, resolveJsonModule: false, ...compilerOptions },
      include: ['src'],
    }),
  })
  projects.push(created)
  await mkdir(path.join(created.root, 'node_modules'), { recursive: true })
  await symlink(packageDir, path.join(created.root, 'node_modules/unplugin-ai-image'), 'dir')
  return created
}

async function tsc(root: string): Promise<{ ok: boolean; output: string }> {
  try {
    await promisify(execFile)(process.execPath, [TSC, '-p', root])
    return { ok: true, output: '' }
  } catch (error) {
    const { stdout, stderr } = error as { stdout: string; stderr: string }
    return { ok: false, output: `${stdout}${stderr}` }
  }
}

describe('unplugin-ai-image/client', () => {
  it('types spec and virtual imports with the exports of an image module', async () => {
    const { root } = await project(REPO, { types: ['unplugin-ai-image/client'] })
    expect(await tsc(root)).toEqual({ ok: true, output: '' })
  })

  it('types them in a CommonJS project too (the declarations are global, of no module format)', async () => {
    const options = { module: 'node16', moduleResolution: 'node16', types: ['unplugin-ai-image/client'] }
    const { root } = await project(REPO, options, { 'package.json': JSON.stringify({ type: 'commonjs' }) })
    expect(await tsc(root)).toEqual({ ok: true, output: '' })
  })

  it('fails without the declarations', async () => {
    const { root } = await project(REPO, { types: [] })
    const result = await tsc(root)
    expect(result.ok).toBe(false)
    expect(result.output).toContain("Cannot find module 'virtual:ai-image/logo'")
  })

  it('fails with wrong declarations', async () => {
    // A package whose client types say `width: string` and type everything else as `any`.
    const wrong = await makeProject({
      'package.json': JSON.stringify({ name: 'unplugin-ai-image', exports: { './client': { types: './client.d.ts' } } }),
      'client.d.ts': [
        "declare module '*.imgprompt.json' { const src: any; export default src; export const width: string; export const height: any; export const alt: any; export const srcset: any; export const placeholder: any; export const images: any; export const key: any }",
        "declare module 'virtual:ai-image*' { const src: any; export default src; export const width: any; export const srcset: any; export const url: any }",
      ].join('\n'),
    })
    projects.push(wrong)
    const { root } = await project(wrong.root, { types: ['unplugin-ai-image/client'] })
    const result = await tsc(root)
    expect(result.ok).toBe(false)
    expect(result.output).toContain('src/app.ts(5,')
    expect(result.output).toContain("Unused '@ts-expect-error' directive")
  })

  it('writes the declarations the README promises: a `/// <reference>` works as well as `types`', async () => {
    const created = await project(REPO, { types: [] })
    await writeFile(path.join(created.root, 'src/env.d.ts'), '/// <reference types="unplugin-ai-image/client" />\n')
    expect(await tsc(created.root)).toEqual({ ok: true, output: '' })
  })
})
