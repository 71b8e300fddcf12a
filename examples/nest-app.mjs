/**
 * A NestJS app as `tsc` compiles it (experimentalDecorators and emitDecoratorMetadata): the
 * decorators are plain calls, as in any Nest project's dist/ folder. The module exports an async
 * factory that creates the app; start it as `FILE:createApp()`. unicorn-ts recognises the Nest app
 * it returns, calls `app.init()` in each worker, serves the HTTP adapter's instance (Express) and
 * calls `app.close()` when the worker stops, so Nest's shutdown hooks run. There is no
 * `app.listen()`: the master owns the listening socket.
 *
 *   npx unicorn-ts 'examples/nest-app.mjs:createApp()' -w 2
 *   curl localhost:8000/hello/Ada
 *   curl -X POST localhost:8000/notes -H 'content-type: application/json' -d '{"text":"hi"}'
 *   curl -N 'localhost:8000/stream?n=5'
 */
import 'reflect-metadata';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BadRequestException,
  Body,
  Controller,
  Get,
  Injectable,
  Ip,
  Module,
  Param,
  Post,
  Query,
  StreamableFile,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

// What tsc emits for decorators (its __decorate and __param helpers, shortened).
const decorate = (decorators, target, key) => {
  if (key === undefined) return Reflect.decorate(decorators, target);
  const descriptor = Object.getOwnPropertyDescriptor(target, key);
  Object.defineProperty(target, key, Reflect.decorate(decorators, target, key, descriptor));
};
const param = (index, decorator) => (target, key) => decorator(target, key, index);
const metadata = (key, value) => Reflect.metadata(key, value);

// @Injectable() class NotesService
let NotesService = class NotesService {
  notes = [];
  add(text) {
    const note = { id: this.notes.length + 1, text };
    this.notes.push(note);
    return note;
  }
  // Called by app.close(), which unicorn-ts calls once the worker has drained: close pools here.
  onApplicationShutdown() {
    console.log(`nest-app: onApplicationShutdown in worker ${process.pid}`);
  }
};
NotesService = decorate([Injectable()], NotesService);

// @Controller() class AppController { constructor(private notes: NotesService) }
let AppController = class AppController {
  constructor(notes) {
    this.notes = notes;
  }
  // @Get('hello/:name') hello(@Param('name') name: string, @Ip() ip: string)
  hello(name, ip) {
    return { greeting: `Hello, ${name}!`, worker: process.pid, ip };
  }
  // @Post('notes') add(@Body() body: { text: string }): a 201 with the note, or 400.
  add(body) {
    if (typeof body?.text !== 'string' || body.text === '') {
      throw new BadRequestException('expected a JSON body like {"text": "..."}');
    }
    return this.notes.add(body.text);
  }
  // @Get('stream') stream(@Query('n') n: string): lines sent as they are produced.
  stream(n) {
    const count = Number(n ?? 3);
    async function* lines() {
      for (let i = 1; i <= count; i++) {
        yield Buffer.from(`line ${i} of ${count}\n`);
        await sleep(20);
      }
    }
    return new StreamableFile(Readable.from(lines()), { type: 'text/plain; charset=utf-8' });
  }
  // @Get('boom'): Nest's exception filter answers 500 and logs the stack.
  boom() {
    throw new Error('boom');
  }
};
decorate(
  [
    Get('hello/:name'),
    param(0, Param('name')),
    param(1, Ip()),
    metadata('design:paramtypes', [String, String]),
  ],
  AppController.prototype,
  'hello',
);
decorate(
  [Post('notes'), param(0, Body()), metadata('design:paramtypes', [Object])],
  AppController.prototype,
  'add',
);
decorate(
  [Get('stream'), param(0, Query('n')), metadata('design:paramtypes', [String])],
  AppController.prototype,
  'stream',
);
decorate([Get('boom')], AppController.prototype, 'boom');
AppController = decorate([Controller(), metadata('design:paramtypes', [NotesService])], AppController);

// @Module({ controllers: [AppController], providers: [NotesService] }) class AppModule
let AppModule = class AppModule {};
AppModule = decorate([Module({ controllers: [AppController], providers: [NotesService] })], AppModule);

export async function createApp() {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  // Behind a proxy, req.ip reads X-Forwarded-For only with Express's trust proxy (docs/frameworks.md).
  app.set('trust proxy', 'loopback');
  return app;
}
