#!/bin/sh
echo trig
